"""The not-a-digit detector judged on what it never saw: leave one generator out.

Negatives come from eleven generators (`zoo.detector.GENERATORS`): the six kinds of
`engine.data.nondigits` (font letters, words, shapes, scribbles, numbers, noise) and the
five of `engine.data.strokes` (stroke letters, symbols, doodles, crossed-out digits,
scribbles). For each, a detector made as the shipped one is (its architecture, recipe and
eleven classes; fewer images) is trained on the other ten with all the positives (MNIST
training digits, their redrawings and pen-stroke digits in every style, with their labels),
its threshold chosen on held-out digits as the shipped one's is
(`zoo.detector.threshold_for`), and tested on fresh drawings of the one it never saw. That
column, not the pooled one, says how the detector would do on a visitor's kind of drawing
that no generator here makes. The pooled row trains on all eleven.

    MNIST_DIR=... python bench/detector_logo.py [--per-kind 1500] [--epochs 10]

Methods are compared on a few generators with the options that change the detector (the
shipped one's are the defaults), e.g. the two-class narrow detector shipped before:

    MNIST_DIR=... python bench/detector_logo.py --leave "stroke letter,stroke doodle,font shape" \
        --classes 2 --channels 16,32,32 --dense 64

Other scores of the same trained detectors are compared with `--scores` (each fold trains
once and every score gets its own threshold under the same budgets), and more generated
digits with `--drawn`:

    MNIST_DIR=... python bench/detector_logo.py --leave "stroke letter" \
        --scores not,unsure,energy,max-logit --drawn 20000

`zoo` among the scores is one no fold trains: how far the shipped classifiers of both
families (`VOTERS`, which never saw a non-digit) agree on one digit; `not|zoo` flags what
either finds unusual, each measured in units of its own threshold.

`--add-kinds glyph` adds a stroke generator the shipped detector does not learn from to
every fold's negatives; `--by-item N` shows which letters, symbols or doodles of a
left-out stroke kind get through; `--keep DIR` writes each fold's detector.

Its table is the `bench:detector-logo` block of docs/benchmarks.md; `--doc
docs/benchmarks.md` rewrites it there.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from _common import emit, mnist, parser, table
from tqdm.auto import tqdm

import zoo
from engine.calibration import calibrated
from engine.data import strokes
from engine.functional import log_softmax
from engine.model import Model, logits
from engine.preprocess import preprocess
from engine.training import init_model, to_input, train
from zoo.artifacts import save_variant
from zoo.detector import (
    ARCHITECTURE,
    DRAWN_BUDGET,
    GENERATORS,
    MNIST_BUDGET,
    NOT_A_DIGIT,
    VARIANT,
    as_images,
    drawn_positives,
    drawn_sources,
    non_digits,
    threshold_for,
)
from zoo.drawings import labelled_images
from zoo.registry import family

# used by no other generator run in the project; the threshold's digits apart from the test's
TRAIN_SEED, THRESHOLD_SEED, TEST_SEED, ITEM_SEED = 41, 42, 43, 44


# Scores of one detector's logits, higher meaning "less like a digit". "not" is the shipped
# one (its last class's probability); the others ask how digit-like the drawing is: no digit
# class sure of it, or the digit logits' energy or maximum low (an image far from every
# digit the network learnt, whatever it makes of the "not a digit" class).
SCORES = {
    "not": lambda z: calibrated(z, 1.0)[:, -1],
    "unsure": lambda z: 1 - calibrated(z, 1.0)[:, :NOT_A_DIGIT].max(axis=1),
    # -log sum exp of the digit logits: log_softmax's first column less its logit
    "energy": lambda z: log_softmax(z[:, :NOT_A_DIGIT])[:, 0] - z[:, 0],
    "max-logit": lambda z: -z[:, :NOT_A_DIGIT].max(axis=1),
}
# A score that no fold trains: the shipped classifiers of two families, which never saw a
# non-digit, asked how far they agree on one digit. `a|b` flags what either score finds
# unusual: each in units of its own threshold, the larger of the two, under the same budgets.
VOTERS = ("cnn-c32c64c64c128-float32", "mlp-h512x256-float32", "mlp-h128-int8")
PEER = "zoo"


def doubt(probabilities: list[np.ndarray]) -> np.ndarray:
    """1 - the voters' mean probability of the digit they favour together: high when the
    families disagree or none is sure."""
    return 1 - np.mean(probabilities, axis=0).max(axis=1)


def either(values: list[np.ndarray], thresholds: list[float]) -> np.ndarray:
    """Several scores as one: each over its own threshold, the largest. Above 1 when any
    score is above its threshold; a threshold on it keeps the budgets for the pair."""
    return np.maximum.reduce([v / t for v, t in zip(values, thresholds, strict=True)])


def parts(score: str) -> list[str]:
    """The base scores a (possibly combined) score reads."""
    return score.split("|")


def generators(per_kind: int, seed: int, digits: np.ndarray,
               gens: tuple[tuple[str, str], ...] = GENERATORS) -> dict[str, np.ndarray]:
    """{generator: images}, `per_kind` drawings each from every non-digit generator."""
    return {" ".join(g): as_images(non_digits(per_kind, seed, digits, (g,)), per_kind,
                                   " ".join(g), True) for g in gens}


def by_item(model: Model, kind: str, score: str, t: float, n: int) -> str:
    """Which of a stroke kind's letters, symbols or doodles a detector lets through at
    threshold `t`, and the digit it then reads each as: `n` fresh drawings."""
    rng = np.random.default_rng(ITEM_SEED)
    drawn = [strokes.named_nondigit(rng, kind) for _ in range(n)]
    known = sorted({name for _, name in drawn})
    images, index = labelled_images(((d, known.index(name)) for d, name in drawn), n, kind,
                                    True)
    names = np.array(known)[index]
    z = logits(model, to_input(images))
    flagged, read = SCORES[score](z) > t, z[:, :NOT_A_DIGIT].argmax(axis=1)
    rows = []
    for name in sorted(set(names), key=lambda k: (flagged[names == k].mean(), k)):
        mine = names == name
        missed = np.bincount(read[mine & ~flagged], minlength=NOT_A_DIGIT)
        rows.append([name, f"{100 * flagged[mine].mean():.0f}%", str(mine.sum()),
                     ", ".join(f"{d} ({missed[d]})" for d in np.argsort(-missed)[:2]
                               if missed[d])])
    return table([f"{kind} ({score})", "flagged", "drawings", "missed ones read as"], rows)


def config_for(channels: str, dense: int, classes: int) -> dict:
    """The shipped detector's config with other widths or a two-class head (digit, not)."""
    *padded, last = (int(c) for c in channels.split(","))
    return {**ARCHITECTURE.config, "dense": [dense], "classes": classes,
            "conv": [{"channels": c, "kernel": 3, "pad": 1} for c in padded]
            + [{"channels": last, "kernel": 3}]}


def detector(positives: np.ndarray, labels: np.ndarray, negatives: np.ndarray, config: dict,
             epochs: int, seed: int) -> Model:
    x = np.concatenate([positives, negatives])
    digits = labels if config["classes"] == NOT_A_DIGIT + 1 else np.zeros_like(labels)
    y = np.concatenate([digits, np.full(len(negatives), config["classes"] - 1, np.int64)])
    recipe = ARCHITECTURE.recipe.with_(epochs=epochs)
    model = init_model(family("cnn"), config, seed, recipe.dtype)
    train(model, x, y, recipe, seed, progress=False)
    return model


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--per-kind", type=int, default=1500, help="training drawings per generator")
    p.add_argument("--test-per-kind", type=int, default=300, help="test drawings per generator")
    p.add_argument("--digits", type=int, default=20000, help="MNIST training digits used")
    p.add_argument("--epochs", type=int, default=ARCHITECTURE.recipe.epochs)
    shipped = ARCHITECTURE.config
    p.add_argument("--channels", default=",".join(str(c["channels"]) for c in shipped["conv"]),
                   help="convolution widths (default: the shipped detector's)")
    p.add_argument("--dense", type=int, default=shipped["dense"][0])
    p.add_argument("--classes", type=int, choices=(2, 11), default=shipped["classes"],
                   help="11: the ten digits and not a digit (shipped); 2: digit, not")
    p.add_argument("--leave", help="comma-separated generators to leave out (default: each)")
    p.add_argument("--scores", default="not",
                   help=f"comma-separated scores to compare, from {[*SCORES, PEER]}, or two "
                   "joined by | (default: not, the shipped one)")
    p.add_argument("--keep", type=Path, metavar="DIR",
                   help="also write each fold's detector to DIR/<generator left out>/ as a "
                   "variant (to study what it misses without training it again)")
    p.add_argument("--add-kinds", default="",
                   help="stroke kinds the shipped detector does not learn from (glyph) added "
                   "as generators of their own, to measure what a new generator brings")
    p.add_argument("--by-item", type=int, default=0, metavar="N",
                   help="also, for a left-out stroke kind, which of its N fresh drawings' "
                   "letters, symbols or doodles get through")
    p.add_argument("--drawn", type=int,
                   help="redrawn MNIST digits and pen-stroke digits (each) among the "
                   "positives (default: a quarter of --digits)")
    p.add_argument("--drawn-budget", type=float, default=DRAWN_BUDGET,
                   help="held-out drawn digits each source may lose to the threshold "
                   "(default: the shipped rule's)")
    args = p.parse_args()
    config = config_for(args.channels, args.dense, args.classes)
    gens = GENERATORS + tuple(("stroke", k) for k in args.add_kinds.split(",") if k)
    names = [" ".join(g) for g in gens]
    leave = args.leave.split(",") if args.leave else names
    if unknown := set(leave) - set(names):
        p.error(f"unknown generators {sorted(unknown)}; choose from {names}")
    scores = args.scores.split(",")
    needed = {b for sc in scores for b in parts(sc)}  # the base scores to compute
    if unknown := needed - {*SCORES, PEER}:
        p.error(f"unknown scores {sorted(unknown)}; choose from {[*SCORES, PEER]} or "
                "join two with |")
    if args.by_item and any(sc not in SCORES for sc in scores):
        p.error("--by-item reads the detector's own scores only")
    if args.doc and (args.leave or config != ARCHITECTURE.config or scores != ["not"]
                     or args.drawn or args.add_kinds):
        p.error("--doc keeps the shipped detector's whole table; compare methods without it")
    if args.keep and config != ARCHITECTURE.config:
        p.error("--keep writes the shipped architecture only")
    start = time.perf_counter()
    data = mnist(args.data)
    mnist_pos, held = data.train_images[:args.digits], data.train_images[-5000:]
    mnist_labels = data.train_labels[:args.digits].astype(np.int64)
    x_drawn, y_drawn = drawn_positives(mnist_pos, mnist_labels,
                                       args.drawn or args.digits // 4, TRAIN_SEED, True)
    pos, labels = np.concatenate([mnist_pos, x_drawn]), np.concatenate([mnist_labels, y_drawn])
    held_drawn = [to_input(x) for x, _ in
                  drawn_sources(held, data.train_labels[-5000:], 2000, THRESHOLD_SEED,
                                True)]
    # as the preprocessing leaves them (floats), those it passes
    test_digits = np.stack([pre.image for d, _, _ in strokes.digit_drawings(1200, TEST_SEED)
                            if (pre := preprocess(d)).ok])
    x_test = to_input(data.test_images)
    train_sets = generators(args.per_kind, TRAIN_SEED, mnist_pos, gens)
    test_sets = {k: to_input(v) for k, v in
                 generators(args.test_per_kind, TEST_SEED, data.test_images, gens).items()}
    x_held = to_input(held)

    inputs = {"held": x_held, "drawn": held_drawn, "tests": test_sets, "mnist": x_test,
              "stroke": test_digits}

    def zip_sets(f, *sets: dict) -> dict:
        """f of the matching arrays of one or more {evaluation set: ...}, set by set."""
        return {"held": f(*(d["held"] for d in sets)),
                "drawn": [f(*v) for v in zip(*(d["drawn"] for d in sets))],
                "tests": {k: f(*(d["tests"][k] for d in sets)) for k in test_sets},
                "mnist": f(*(d["mnist"] for d in sets)),
                "stroke": f(*(d["stroke"] for d in sets))}

    voters = [zoo.load(v) for v in VOTERS] if PEER in needed else []
    peer = zip_sets(lambda x: doubt([calibrated(logits(v, x), 1.0) for v in voters]),
                    inputs) if voters else None  # the same for every fold: made once

    def scored(model: Model) -> dict:
        """The base scores asked for on every evaluation set; the logits computed once."""
        z = zip_sets(lambda x: logits(model, x), inputs)
        base = {b: zip_sets(SCORES[b], z) for b in needed - {PEER}}
        return {**base, PEER: peer} if peer else base

    def threshold(v: dict) -> float:
        return threshold_for(v["held"], *v["drawn"], drawn_budget=args.drawn_budget)

    def combined(s: dict, score: str) -> dict:
        """A score's values on every set; `a|b` by `either`."""
        if len(bs := parts(score)) == 1:
            return s[score]
        ts = [threshold(s[b]) for b in bs]
        return zip_sets(lambda *v: either(list(v), ts), *(s[b] for b in bs))

    def judge(s: dict, score: str) -> tuple[float, dict[str, float], float, float]:
        v = combined(s, score)
        t = threshold(v)
        flagged = {k: float((x > t).mean()) for k, x in v["tests"].items()}
        return t, flagged, float((v["mnist"] > t).mean()), float((v["stroke"] > t).mean())

    rows, held_out, items = [], {s: {} for s in scores}, []
    label = (lambda name, s: f"{name} ({s})") if len(scores) > 1 else (lambda name, s: name)
    for left_out in tqdm(leave, desc="leave one generator out"):
        negatives = np.concatenate([v for k, v in train_sets.items() if k != left_out])
        model = detector(pos, labels, negatives, config, args.epochs, 0)
        if args.keep:
            save_variant(args.keep / left_out.replace(" ", "-"), VARIANT, model)
        z = scored(model)
        for score in scores:
            t, flagged, mnist_refused, stroke_refused = judge(z, score)
            held_out[score][left_out] = flagged[left_out]
            rows.append([label(left_out, score), f"{100 * flagged[left_out]:.1f}%",
                         f"{100 * np.mean([v for k, v in flagged.items() if k != left_out]):.1f}%",
                         f"{100 * mnist_refused:.2f}%", f"{100 * stroke_refused:.2f}%",
                         f"{t:.3f}"])
            print(" | ".join(rows[-1]), flush=True)
            source, kind = left_out.split(" ", 1)
            if args.by_item and source == "stroke":
                items.append(by_item(model, kind, score, t, args.by_item))
                print(items[-1], flush=True)
    if not args.leave:  # a comparison of methods on a few generators skips the pooled one
        model = detector(pos, labels, np.concatenate(list(train_sets.values())), config,
                         args.epochs, 0)
        z = scored(model)
        for score in scores:
            t, flagged, mnist_refused, stroke_refused = judge(z, score)
            rows.append([label("none (pooled: trained on all eleven)", score),
                         f"{100 * np.mean(list(flagged.values())):.1f}% (its own kinds)", "-",
                         f"{100 * mnist_refused:.2f}%", f"{100 * stroke_refused:.2f}%",
                         f"{t:.3f}"])
    shape = ("the shipped architecture" if config == ARCHITECTURE.config else
             f"convolutions {args.channels}, dense {args.dense}, {args.classes} classes")
    means = "; ".join(
        f"{f'score {sc}: ' if len(scores) > 1 else ''}"
        f"**{100 * np.mean(list(h.values())):.1f}%** of a never-seen generator's drawings "
        f"flagged on average, the weakest "
        f"{(w := min(h, key=h.get))} at {100 * h[w]:.1f}%" for sc, h in held_out.items())
    emit("detector-logo", table(
        ["generator left out", "its drawings flagged (never seen)", "the others flagged",
         "MNIST test refused", "stroke digits refused", "threshold"], rows)
        + f"\n\nLeft out one at a time: {means}. Each detector: {shape}, "
        f"{args.epochs} epochs (the shipped one trains {ARCHITECTURE.recipe.epochs}), on "
        f"{len(pos):,} digits "
        f"({args.digits:,} MNIST, their redrawings, digits from engine/data/strokes.py) and "
        f"{args.per_kind:,} drawings per generator; tested on {args.test_per_kind} fresh "
        f"drawings per generator, the 10,000 MNIST test digits and {len(test_digits):,} "
        f"stroke digits in every style; each threshold with at most "
        f"{100 * MNIST_BUDGET:.2f}% of the held-out MNIST digits and "
        f"{100 * args.drawn_budget:.2f}% of each source of held-out drawn digits above it. "
        f"{time.perf_counter() - start:.0f} s in all."
        + "".join(f"\n\n{t}" for t in items),
        args.doc)


if __name__ == "__main__":
    main()
