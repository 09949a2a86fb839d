"""The held-out stroke generator: reproducible, every kind and style, drawings the app reads."""

from __future__ import annotations

import numpy as np
import pytest

from engine.data import strokes
from engine.data.strokes import (
    DIGIT_STYLES,
    DIGITS,
    NONDIGIT_KINDS,
    digit_drawings,
    nondigit_drawings,
    render,
)
from engine.preprocess import preprocess


def test_the_same_seed_draws_the_same():
    a = [d for d, _ in nondigit_drawings(10, seed=3)]
    b = [d for d, _ in nondigit_drawings(10, seed=3)]
    c = [d for d, _ in nondigit_drawings(10, seed=4)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, c))


def test_every_kind_and_style_is_drawn_and_read():
    seen = [kind for _, kind in nondigit_drawings(5 * len(NONDIGIT_KINDS), seed=0)]
    assert set(seen) == set(NONDIGIT_KINDS)
    triples = list(digit_drawings(10 * len(DIGIT_STYLES), seed=0))
    assert {s for _, _, s in triples} == set(DIGIT_STYLES)
    assert {label for _, label, _ in triples} <= set(range(10))
    for drawing, _, _ in triples:
        assert drawing.dtype == np.uint8 and drawing.ndim == 2
        assert drawing.min() < 128 and drawing.max() == 255  # ink on paper
    read = [preprocess(d).ok for d, _, _ in triples]
    assert np.mean(read) >= 0.95  # small and thin ones included: digits, not dots


def test_every_digit_is_the_digit_it_says():
    """Each digit glyph drawn without wobble or slant must still look like itself to the
    shipped best CNN in most draws: a wrong glyph (a 6 drawn as a 5) would make every
    held-out figure for it meaningless. The flagged 1 and the closed 4 are read wrongly
    often; that is what they are there to show, so they are held to less."""
    import zoo
    from engine.model import logits

    model = zoo.open().load("cnn-c32c64-float32")
    rng = np.random.default_rng(0)
    for label, face, glyph in DIGITS:
        xs = [preprocess(render(glyph, rng, jitter=0.005)).x[0] for _ in range(20)]
        right = (logits(model, np.stack(xs)).argmax(axis=1) == label).mean()
        assert right >= (0.3 if (label, face) in ((1, "flagged"), (4, "closed")) else 0.8), \
            (label, face, right)


def test_unknown_names_are_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown kind"):
        strokes.nondigit(rng, "poem")
    with pytest.raises(ValueError, match="unknown style"):
        strokes.digit(rng, "gothic")
