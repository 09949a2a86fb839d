import numpy as np

from engine.augment import Augment, affine_matrices, affine_matrix, augment


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


NO_AFFINE = Augment(0, 0, (1.0, 1.0), 0, 0, 0)


def test_elastic_is_seeded_smooth_and_bounded():
    from engine.augment import elastic_fields

    cfg = Augment(elastic_alpha=20.0, elastic_sigma=4.0)
    f = elastic_fields(np.random.default_rng(1), 50, (28, 28), cfg)
    assert f.shape == (50, 28, 28, 2)
    assert np.array_equal(f, elastic_fields(np.random.default_rng(1), 50, (28, 28), cfg))
    # Smooth: neighbours move together; the smoothed field is far smaller than alpha.
    step = np.abs(np.diff(f, axis=1)).mean()
    assert step < 0.2 * np.abs(f).mean() and 0.1 < np.abs(f).mean() < 5


def test_elastic_moves_ink_and_off_draws_nothing():
    bent = augment(digit(), np.random.default_rng(3), Augment(0, 0, (1.0, 1.0), 0, 0, 0,
                                                              elastic_alpha=20.0))
    assert not np.array_equal(bent, digit()) and bent[0].sum() > 0.6 * digit()[0].sum()
    # Off, it takes nothing from the generator: recipes without it keep their streams.
    # The affine draws are 6 doubles an image (angle, scale, shear, 2 shifts, pen).
    rng = np.random.default_rng(4)
    augment(digit(), rng, NO_AFFINE)
    reference = np.random.default_rng(4)
    reference.random(6 * len(digit()))
    assert rng.random() == reference.random()


def test_batched_matrices_are_opencvs_bit_for_bit():
    # The seed's images depend on every bit of each matrix: build the reference the way
    # one image at a time would, with cv2.getRotationMatrix2D and a shear matrix.
    import cv2

    rng = np.random.default_rng(3)
    n = 2000
    angles, scales = rng.uniform(-12, 12, n), rng.uniform(0.9, 1.1, n)
    shears, shifts = rng.uniform(-0.15, 0.15, n), rng.uniform(-2, 2, (n, 2))
    ours = affine_matrices(angles, scales, shears, shifts)
    for i in range(n):
        rot = np.vstack([cv2.getRotationMatrix2D((13.5, 13.5), angles[i], scales[i]), [0, 0, 1]])
        sh = np.array([[1, shears[i], -shears[i] * 13.5], [0, 1, 0], [0, 0, 1]])
        ref = (sh @ rot)[:2]
        ref[:, 2] += shifts[i]
        assert np.array_equal(ours[i], ref), i
    assert np.array_equal(affine_matrix(angles[0], scales[0], shears[0], shifts[0]), ours[0])
