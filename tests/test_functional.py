import numpy as np
import pytest

from engine.functional import cross_entropy, log_softmax, softmax


def test_softmax_is_finite_and_exact_at_huge_logits():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [3.0, 1.0, 0.2]])
    p = softmax(z)
    assert np.all(np.isfinite(p)) and np.allclose(p.sum(axis=1), 1)
    assert p[0, 0] == 1.0 and np.allclose(p[1], 1 / 3)
    naive = np.exp(z[2]) / np.exp(z[2]).sum()
    assert np.allclose(p[2], naive)
    lp = log_softmax(z)
    assert np.all(np.isfinite(lp))
    assert lp[0, 1] == -2e4  # exact, where log(softmax) would give -inf


def test_cross_entropy_value_and_no_nan_at_extremes():
    z = np.array([[1e4, -1e4], [-1e4, 1e4]])
    loss, grad = cross_entropy(z, np.array([1, 1]))
    assert np.isfinite(loss) and loss == 1e4  # (2e4 + 0) / 2
    assert np.all(np.isfinite(grad))
    loss, _ = cross_entropy(np.zeros((4, 10)), np.arange(4))
    assert np.isclose(loss, np.log(10))


@pytest.mark.parametrize("shape", [(1, 10), (500, 10), (3, 100), (10,), (2, 3, 10)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_paths_agree_with_the_formula(shape, dtype):
    """One row (Python floats), many short rows (transposed reductions) and the general
    case: the same probabilities, in the input's dtype, whatever the path."""
    z = (np.random.default_rng(0).standard_normal(shape) * 30).astype(dtype)
    z.flat[0] = 1e4 if dtype == "float64" else 80.0  # far beyond exp's range unshifted
    ref = np.exp(z.astype(np.float64) - z.max(axis=-1, keepdims=True))
    ref /= ref.sum(axis=-1, keepdims=True)
    p = softmax(z)
    assert p.dtype == dtype and p.shape == z.shape and np.isfinite(p).all()
    np.testing.assert_allclose(p, ref, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-5)
    assert np.array_equal(p.argmax(axis=-1), z.argmax(axis=-1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_is_np_maximum_with_zero_bit_for_bit(dtype):
    """relu (the maximum against a buffer of zeros) gives np.maximum(x, 0)'s bits, -0 and
    NaN included, in place or not, for arrays larger than the buffer it had."""
    from engine.functional import relu

    special = np.array([-0.0, 0.0, -1, 1, np.nan, -np.inf, np.inf, 1e-45, -1e-45], dtype)
    for x in (special, np.random.default_rng(0).standard_normal((3, 200_000)).astype(dtype)):
        expected = np.maximum(x, 0)
        assert np.array_equal(relu(x).view(np.uint8), expected.view(np.uint8))
        y = x.copy()
        assert relu(y, out=y) is y
        assert np.array_equal(y.view(np.uint8), expected.view(np.uint8))
