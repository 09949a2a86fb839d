import numpy as np
import pytest

from engine.quant import dequantize, pack_int4, quantize, unpack_int4


def test_pack_unpack_every_nibble_at_both_positions():
    values = np.arange(-8, 8, dtype=np.int8)
    for other in values:
        for low_first in (True, False):
            pair = np.array([values, np.full(16, other)][:: 1 if low_first else -1]).T.ravel()
            assert np.array_equal(unpack_int4(pack_int4(pair), pair.size), pair)


def test_pack_layout_low_nibble_first():
    assert pack_int4(np.array([1, -1], np.int8)).tolist() == [0xF1]
    assert pack_int4(np.array([-8, 7], np.int8)).tolist() == [0x78]


@pytest.mark.parametrize("n", [1, 3, 7, 784 * 33 + 1])
def test_odd_sizes_pack(n):
    q = np.random.default_rng(n).integers(-8, 8, n).astype(np.int8)
    packed = pack_int4(q)
    assert packed.dtype == np.uint8 and packed.size == (n + 1) // 2
    assert np.array_equal(unpack_int4(packed, n), q)
    with pytest.raises(ValueError):
        unpack_int4(packed, n + 2)


def test_pack_refuses_out_of_range():
    with pytest.raises(ValueError, match=r"\[-8, 7\]"):
        pack_int4(np.array([8]))


@pytest.mark.parametrize("bits,group", [(8, None), (4, None), (4, 32), (4, 64), (4, 5)])
def test_round_trip_within_half_a_step(bits, group):
    rng = np.random.default_rng(bits)
    W = rng.normal(scale=0.05, size=(101, 13))  # 101 rows: a ragged last group
    W[:, 3] = 0.0  # an all-zero channel must not divide by zero
    q, scales = quantize(W, bits, group)
    qmax = 2 ** (bits - 1) - 1
    assert q.dtype == np.int8 and np.abs(q).max() <= qmax
    assert scales.dtype == np.float32
    assert scales.shape == ((1 if group is None else -(-101 // group)), 13)
    g = 101 if group is None else group
    step = np.repeat(scales, g, axis=0)[:101]
    err = np.abs(dequantize(q, scales, group, "float64") - W)
    assert np.all(err <= step / 2 * (1 + 1e-6))
    assert np.all(dequantize(q, scales, group)[:, 3] == 0)
    with pytest.raises(ValueError, match="scale rows"):
        dequantize(q, scales, 7)
    assert np.abs(q).max() == qmax  # the largest weight uses the full range


def test_groups_follow_local_range():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(64, 8)) * np.repeat([[0.01], [1.0]], 32, axis=0)
    err_pc = np.abs(dequantize(*quantize(W, 4)) - W)[:32].mean()
    err_g = np.abs(dequantize(*quantize(W, 4, 32), 32) - W)[:32].mean()
    assert err_g < err_pc / 5  # small-range rows are no longer rounded to zero
