import numpy as np

from engine.augment import Augment, affine_matrix, augment


def digit():
    img = np.zeros((3, 28, 28), np.uint8)
    img[:, 6:22, 12:16] = 255
    img[1, 6:10, 8:20] = 200
    return img


def test_same_seed_same_images_and_dtype():
    a = augment(digit(), np.random.default_rng(5), Augment())
    b = augment(digit(), np.random.default_rng(5), Augment())
    c = augment(digit(), np.random.default_rng(6), Augment())
    assert a.dtype == np.uint8 and a.shape == (3, 28, 28)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_zero_augmentation_is_identity():
    none = Augment(0, 0, (1.0, 1.0), 0, 0, 0)
    assert np.array_equal(augment(digit(), np.random.default_rng(0), none), digit())


def test_shift_moves_ink_and_pen_changes_width():
    m = affine_matrix(0, 1, 0, (3, 0))
    assert np.allclose(m, [[1, 0, 3], [0, 1, 0]])
    thick = augment(digit(), np.random.default_rng(0), Augment(0, 0, (1, 1), 0, 1.0, 0))
    thin = augment(digit(), np.random.default_rng(0), Augment(0, 0, (1, 1), 0, 0, 1.0))
    ink = digit().astype(int).sum()
    assert thick.astype(int).sum() > ink > thin.astype(int).sum() > 0.4 * ink
