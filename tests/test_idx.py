import gzip

import numpy as np
import pytest

from engine.data.idx import IDXError, encode_idx, read_idx


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)


@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_raw_and_gzip(tmp_path, images, compress):
    data = encode_idx(images)
    path = tmp_path / "imgs"
    path.write_bytes(gzip.compress(data) if compress else data)
    assert np.array_equal(read_idx(path), images)


def test_multibyte_types_round_trip(tmp_path):
    a = np.arange(12, dtype=np.int32).reshape(3, 4) - 5
    (tmp_path / "a").write_bytes(encode_idx(a))
    assert np.array_equal(read_idx(tmp_path / "a"), a)


def test_truncated_file_names_file_and_sizes(tmp_path, images):
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(encode_idx(images)[:-100])
    with pytest.raises(IDXError, match=r"short-idx3-ubyte: truncated.*3920 bytes of data, "
                                       r"found 3820"):
        read_idx(path)


def test_trailing_bytes(tmp_path, images):
    path = tmp_path / "long"
    path.write_bytes(encode_idx(images) + b"xx")
    with pytest.raises(IDXError, match="trailing bytes"):
        read_idx(path)


@pytest.mark.parametrize("header", [b"\x00\x01\x08\x03", b"\x00\x00\x07\x03", b"PK\x03\x04"])
def test_wrong_magic(tmp_path, images, header):
    path = tmp_path / "bad"
    path.write_bytes(header + encode_idx(images)[4:])
    with pytest.raises(IDXError, match=r"bad: wrong magic number"):
        read_idx(path)


def test_broken_gzip_and_tiny_files(tmp_path, images):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(encode_idx(images))[:200])
    with pytest.raises(IDXError, match=r"x.gz: broken gzip"):
        read_idx(path)
    path.write_bytes(b"\x00\x00")
    with pytest.raises(IDXError, match="too short"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(IDXError, match="truncated header"):
        read_idx(path)


def test_dimensions_whose_product_overflows_int64_are_named(tmp_path):
    """65536**4 wraps to 0 in int64: the header alone would pass a length check."""
    path = tmp_path / "huge-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x04" + (65536).to_bytes(4, "big") * 4)
    with pytest.raises(IDXError, match=r"huge-idx3-ubyte: truncated: dimensions "
                                       r"\[65536, 65536, 65536, 65536\] need "
                                       r"18446744073709551616 bytes"):
        read_idx(path)


def test_sizes_are_bounded_before_reading_and_while_decompressing(tmp_path, images):
    data = encode_idx(images)
    raw, packed = tmp_path / "raw", tmp_path / "packed.gz"
    raw.write_bytes(data)
    packed.write_bytes(gzip.compress(data))
    assert np.array_equal(read_idx(raw, max_bytes=len(data)), images)
    assert np.array_equal(read_idx(packed, max_bytes=len(data)), images)
    with pytest.raises(IDXError, match=rf"raw: {len(data)} bytes, more than the"):
        read_idx(raw, max_bytes=len(data) - 1)
    with pytest.raises(IDXError, match=rf"packed.gz: decompresses to more than {len(data) - 1}"):
        read_idx(packed, max_bytes=len(data) - 1)
    sparse = tmp_path / "sparse"
    with sparse.open("wb") as f:
        f.truncate(1 << 40)  # a terabyte that takes no disk: stat says so before any read
    with pytest.raises(IDXError, match="sparse is 1099511627776 bytes, more than"):
        read_idx(sparse)


def test_concatenated_gzip_members_are_read_like_gzip_does(tmp_path, images):
    data = encode_idx(images)
    path = tmp_path / "two.gz"
    path.write_bytes(gzip.compress(data[:100]) + gzip.compress(data[100:]))
    assert np.array_equal(read_idx(path), images)
