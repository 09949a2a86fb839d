"""The pen-stroke generator: reproducible, every kind and style, drawings the app reads, and
the classifiers' training and held-out subsets kept apart."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from engine.data import strokes
from engine.data.strokes import (
    DIGIT_STYLES,
    DIGITS,
    HELD_OUT_FACES,
    HELD_OUT_STYLES,
    NONDIGIT_KINDS,
    TRAINING_STYLES,
    digit_drawings,
    held_out_digits,
    nondigit_drawings,
    render,
    training_digits,
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
    with pytest.raises(ValueError, match="unknown subset"):
        strokes.digit(rng, "plain", "validation")
    with pytest.raises(ValueError, match="unknown training style 'thin pen'"):
        strokes.digit(rng, "thin pen", "training")  # a held-out style is never trained on
    with pytest.raises(ValueError, match="unknown held-out style 'plain'"):
        strokes.digit(rng, "plain", "held-out")


def test_no_held_out_digit_is_drawn_as_the_classifiers_train():
    """Each held-out digit has a face or a style that training never draws; each held-out
    face is a digit the training faces also cover, in another face."""
    rng = np.random.default_rng(0)
    for style in TRAINING_STYLES:
        for _ in range(200):
            _, label, face = strokes.digit(rng, style, "training")
            assert (label, face) not in HELD_OUT_FACES
    held = {(label, face, style) for style in HELD_OUT_STYLES for _ in range(200)
            for _, label, face in [strokes.digit(rng, style, "held-out")]}
    for label, face, style in held:
        assert (label, face) in HELD_OUT_FACES or style not in TRAINING_STYLES
    assert {(lab, f) for lab, f, s in held if s == "printed"} == HELD_OUT_FACES  # all drawn
    trained = {(lab, f) for lab, f, _ in DIGITS} - HELD_OUT_FACES
    assert {lab for lab, _ in HELD_OUT_FACES} <= {lab for lab, _ in trained}
    assert {s for _, _, s in training_digits(40, 1)} == set(TRAINING_STYLES)
    assert {s for _, _, s in held_out_digits(30, 1)} == set(HELD_OUT_STYLES)


def test_a_glyph_is_never_two_segments_from_a_digit():
    assert all(d <= set(strokes.SEGMENTS) for d in strokes.DIGIT_SEGMENTS)  # no typo'd name
    segment_of = {frozenset(s): k for k, s in strokes.SEGMENTS.items()}
    rng = np.random.default_rng(0)
    for _ in range(300):
        glyph = strokes._glyph(rng)
        used = {segment_of[frozenset(pair)] for line in glyph for pair in pairwise(line)}
        assert 3 <= len(used) <= 6
        assert sum(len(line) - 1 for line in glyph) == len(used)  # each segment drawn once
        assert all(len(used ^ d) > 2 for d in strokes.DIGIT_SEGMENTS), sorted(used)
    drawing = strokes.nondigit(rng, "glyph")
    assert drawing.dtype == np.uint8 and drawing.min() < 128 and preprocess(drawing).ok
