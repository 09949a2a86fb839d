"""Test-time views: each move is what it says, fills with background, and reads a digit the
same alone or in a batch."""

import numpy as np
import pytest

from engine.views import AS_GIVEN, VIEWS, check_views, rotated, shifted, view


def test_as_given_is_the_input_itself():
    x = np.random.default_rng(0).random((2, 28, 28)).astype(np.float32)
    assert view(x, AS_GIVEN) is x


@pytest.mark.parametrize("name, dy, dx", [("right", 0, 1), ("left", 0, -1),
                                          ("down", 1, 0), ("up", -1, 0)])
def test_a_shift_moves_ink_one_pixel_and_never_wraps(name, dy, dx):
    x = np.zeros((1, 5, 5))
    x[0, 2, 2] = 1.0
    moved = view(x, name)
    assert moved[0, 2 + dy, 2 + dx] == 1.0 and moved.sum() == 1.0
    edge = np.zeros((1, 5, 5))
    edge[0, 4 if dy > 0 else 0, 4 if dx > 0 else 0] = 1.0  # on the edge it moves towards
    assert view(edge, name).sum() == 0.0  # gone, not wrapped to the other side
    assert shifted(x, 0, 0).tolist() == x.tolist()


def test_a_quarter_turn_is_numpys_rot90_and_a_full_turn_changes_nothing():
    x = np.random.default_rng(1).random((3, 28, 28))
    assert np.allclose(rotated(x, 90), np.rot90(x, 1, axes=(1, 2)), atol=1e-9)
    assert np.allclose(rotated(x, -90), np.rot90(x, -1, axes=(1, 2)), atol=1e-9)
    assert np.allclose(rotated(x, 360), x, atol=1e-9)


def test_a_small_turn_is_bilinear_and_anticlockwise_on_screen():
    bar = np.zeros((1, 28, 28))
    bar[0, 13:15, 4:24] = 1.0  # horizontal
    turned = rotated(bar, 30)[0]
    upper = turned[:13]
    assert upper[:, 14:].sum() > 1 and upper[:, :14].sum() == 0  # its right end rose
    assert turned.sum() == pytest.approx(bar.sum(), rel=0.05)  # ink is kept, not lost
    assert 0 <= turned.min() and turned.max() <= 1


def test_every_view_reads_a_digit_the_same_alone_or_in_a_batch():
    x = np.random.default_rng(2).random((300, 28, 28)).astype(np.float32)
    batch = np.stack([view(x, n) for n in VIEWS])
    alone = np.concatenate([view(x[7:8], n) for n in VIEWS])
    assert batch.dtype == np.float32
    assert np.array_equal(batch[:, 7], alone)


@pytest.mark.parametrize("names", [[], ["sideways"], ["up", "up"]])
def test_unknown_repeated_or_no_views_are_refused(names):
    with pytest.raises(ValueError, match="views must be"):
        check_views(names)
