import numpy as np
import pytest

from engine.quant import (
    dequantize,
    fake_quantize,
    pack_bits,
    quantize,
    unpack_bits,
)


def test_pack_unpack_every_nibble_at_both_positions():
    values = np.arange(-8, 8, dtype=np.int8)
    for other in values:
        for low_first in (True, False):
            pair = np.array([values, np.full(16, other)][:: 1 if low_first else -1]).T.ravel()
            assert np.array_equal(unpack_bits(pack_bits(pair, 4), pair.size, 4), pair)


def test_pack_layout_low_nibble_first():
    assert pack_bits(np.array([1, -1], np.int8), 4).tolist() == [0xF1]
    assert pack_bits(np.array([-8, 7], np.int8), 4).tolist() == [0x78]


@pytest.mark.parametrize("n", [1, 3, 7, 784 * 33 + 1])
def test_odd_sizes_pack(n):
    q = np.random.default_rng(n).integers(-8, 8, n).astype(np.int8)
    packed = pack_bits(q, 4)
    assert packed.dtype == np.uint8 and packed.size == (n + 1) // 2
    assert np.array_equal(unpack_bits(packed, n, 4), q)
    with pytest.raises(ValueError):
        unpack_bits(packed, n + 2, 4)


def test_pack_refuses_out_of_range():
    with pytest.raises(ValueError, match=r"\[-8, 7\]"):
        pack_bits(np.array([8]), 4)


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


def test_pack_2bit_every_value_at_every_position():
    values = np.arange(-2, 2, dtype=np.int8)
    for pos in range(4):
        for v in values:
            for other in values:
                q = np.full(4, other, np.int8)
                q[pos] = v
                packed = pack_bits(q, 2)
                assert packed.size == 1
                assert np.array_equal(unpack_bits(packed, 4, 2), q)
                # the layout: element j in bits 2j..2j+1, two's complement
                assert (int(packed[0]) >> (2 * pos)) & 3 == int(v) & 3


def test_pack_2bit_layout_first_element_lowest():
    assert pack_bits(np.array([1, -1, 0, -2], np.int8), 2).tolist() == [0b10_00_11_01]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 288 * 32 + 3])
def test_odd_sizes_pack_2bit(n):
    q = np.random.default_rng(n).integers(-2, 2, n).astype(np.int8)
    packed = pack_bits(q, 2)
    assert packed.dtype == np.uint8 and packed.size == -(-n // 4)
    assert np.array_equal(unpack_bits(packed, n, 2), q)
    for wrong in (n + 4, n - 4):
        if wrong >= 0:
            with pytest.raises(ValueError, match="cannot hold"):
                unpack_bits(packed, wrong, 2)
    with pytest.raises(ValueError, match=r"\[-2, 1\]"):
        pack_bits(np.array([2]), 2)


def test_ternary_absmean_scale():
    W = np.array([[0.1], [-0.2], [0.3], [-1.6]])  # mean |w| = 0.55
    q, scales = quantize(W, 2, scale="absmean")
    assert np.isclose(scales[0, 0], 0.55)
    assert q[:, 0].tolist() == [0, 0, 1, -1]  # 0.3/0.55 rounds up; -1.6 saturates at -1
    # absmax would zero all but the outlier: the reason absmean is used for ternary
    assert quantize(W, 2)[0][:, 0].tolist() == [0, 0, 0, -1]


@pytest.mark.parametrize("bits,group,scale", [(8, None, "absmax"), (4, 32, "absmax"),
                                              (2, None, "absmean")])
def test_fake_quantize_is_the_stored_grid(bits, group, scale):
    kernel = np.random.default_rng(3).normal(size=(3, 3, 5, 7)).astype(np.float32)
    fq = fake_quantize(kernel, bits, group, scale)
    assert fq.shape == kernel.shape and fq.dtype == np.float32
    q, scales = quantize(kernel.reshape(-1, 7), bits, group, scale)
    assert np.array_equal(fq.reshape(-1, 7), dequantize(q, scales, group))
    if scale == "absmax":  # re-quantising a grid keeps it (absmean's scale would move)
        assert np.array_equal(fake_quantize(fq, bits, group, scale), fq)
