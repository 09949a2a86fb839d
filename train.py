"""Train the registered architectures on MNIST, derive every precision, evaluate, write models/.

    python train.py                         # the whole zoo, default recipe, into models/
    python train.py --variants 'mlp-h128-*' --epochs 10
    python train.py --quick                 # a smoke run of seconds, into models-quick/
    python train.py --push --repo you/digit-zoo   # train, then publish in one commit
    python train.py --push-only --repo you/digit-zoo  # publish models/ as it is
    python train.py --ensembles             # measure the registered ensembles, train nothing

Each architecture is trained once in float on MNIST (with --drawings, then on MNIST plus
drawings: zoo.drawings; with --from-start too, on both from the first epoch); its other
precisions are encoded from those weights, written, read back and evaluated (MNIST test,
held-out drawn digits: zoo.entries.measured), so the manifest describes the files that ship.
An architecture's files and the manifest are swapped in together (zoo.writer): a run killed
at any moment leaves every variant the manifest lists intact. Then the ensembles are measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import zoo
from engine.data.mnist import MNISTError, load_mnist
from engine.model import evaluate
from engine.training import EpochCache, TrainingDivergedError, to_input, train
from zoo import drawings, hub, voting  # hub loads huggingface_hub only to publish
from zoo.artifacts import load_variant
from zoo.detector import VARIANT, manifest_section, train_detector
from zoo.entries import TRAINING, detector_entry, manifest_top, measured, variant_entry
from zoo.report import results
from zoo.writer import ZooWriteError, ZooWriter

ROOT = Path(__file__).resolve().parent
QUICK_TRAIN_IMAGES, QUICK_EPOCHS = 6000, 2
# The last 5,000 training images are never trained on: each variant's temperature is
# fitted there, so calibration never sees the test set.
CALIBRATION_IMAGES = 5000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    # Defaults are written into the help where they mean something: an automatic
    # "(default: None)" on every option says nothing, and doubles the ones written out.
    p = argparse.ArgumentParser(
        description="Train digit-zoo's registered variants on MNIST and write the zoo.")
    p.add_argument("--variants", default="*", metavar="PATTERN",
                   help="comma-separated shell patterns of variant names, e.g. 'mlp-h128-*'; "
                        "an architecture is trained when any of its variants matches "
                        "(default: %(default)s, every variant)")
    p.add_argument("--epochs", type=int, help="override every recipe's number of epochs")
    p.add_argument("--seed", type=int, help="override every architecture's seed")
    p.add_argument("--drawings", type=int, default=0, metavar="N",
                   help="after MNIST, fine-tune every architecture on MNIST plus N drawn "
                        "digits of each kind (redrawn MNIST, pen strokes), e.g. 10000; 0 "
                        "trains on MNIST alone, as the shipped zoo (default: %(default)s)")
    p.add_argument("--from-start", action="store_true", help="with --drawings: train on "
                   "MNIST plus the drawings from the first epoch, not fine-tune after MNIST")
    p.add_argument("--data", metavar="DIR",
                   help="folder with the four MNIST IDX files (raw or .gz) (default: "
                        "$MNIST_DIR, else the cache, else a download)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="models folder to write (default: models/, or models-quick/ "
                        "with --quick)")
    p.add_argument("--quick", action="store_true",
                   help=f"smoke run: {QUICK_TRAIN_IMAGES} training images, "
                        f"{QUICK_EPOCHS} epochs unless --epochs is given")
    p.add_argument("--derive-only", action="store_true",
                   help="do not train: derive the selected variants from the float parents "
                        "already in --out (e.g. after adding a precision)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE_OR_FILE",
                   help="import a module or .py file that registers more variants "
                        "(repeatable; also $DIGIT_ZOO_PLUGINS)")
    p.add_argument("--detector", action="store_true",
                   help="train only the not-a-digit detector (a full run, without "
                        "--variants, trains it after the variants)")
    p.add_argument("--ensembles", action="store_true",
                   help="train nothing: measure the registered ensembles on the variants "
                        "already in --out (e.g. after adding one), and any drawn-digit figure "
                        "an older entry lacks; every run that trains variants does too")
    p.add_argument("--list", action="store_true", help="list the matching variants and exit")
    p.add_argument("--epoch-cache-mb", type=int, default=1500, metavar="MB",
                   help="memory for prepared (shuffled, augmented) epochs that later "
                        "architectures and fine-tunes reuse; 0 prepares every epoch anew "
                        "(same weights either way) (default: %(default)s)")
    hub = p.add_argument_group("publishing to the Hugging Face Hub (token: HF_TOKEN or "
                               "`hf auth login`)")
    hub.add_argument("--push", action="store_true",
                     help="after training, publish the models folder in one commit")
    hub.add_argument("--push-only", action="store_true",
                     help="publish the existing models folder without training")
    hub.add_argument("--repo", default=os.environ.get("ZOO_REPO"), metavar="NAMESPACE/NAME",
                     help="Hub model repo to publish to (default: $ZOO_REPO)")
    hub.add_argument("--private", action="store_true", help="create the repo as private")
    hub.add_argument("--revision", metavar="BRANCH",
                     help="branch to commit to, created if missing (default: main)")
    hub.add_argument("--message", metavar="TEXT", help="commit message")
    p.add_argument("--no-progress", action="store_true",
                   help="hide the progress bars, the Hub upload's too")
    args = p.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        p.error("--epochs must be at least 1")
    if args.epoch_cache_mb < 0 or args.drawings < 0:
        p.error("--epoch-cache-mb and --drawings must be 0 or more")
    if args.from_start and (not args.drawings or args.derive_only):
        p.error("--from-start needs --drawings N and trains float parents: no --derive-only")
    if args.detector and (args.derive_only or args.push_only or args.variants != "*"):
        p.error("--detector trains the detector alone; drop --variants, --derive-only and "
                "--push-only")
    if args.ensembles and (args.detector or args.derive_only or args.push_only or args.epochs
                           or args.seed is not None or args.variants != "*"):
        p.error("--ensembles trains nothing; drop --variants, --epochs, --seed, --detector, "
                "--derive-only and --push-only")
    if args.derive_only and (args.epochs or args.seed is not None or args.quick):
        p.error("--derive-only trains no float parent (it only fine-tunes int4/int2 from the "
                "saved ones); it cannot take --epochs, --seed or --quick")
    if (args.push or args.push_only) and not args.repo:
        p.error("--push needs --repo NAMESPACE/NAME (or ZOO_REPO)")
    if args.push_only and (args.derive_only or args.quick or args.epochs):
        p.error("--push-only trains nothing; drop --derive-only, --quick and --epochs")
    return args


@dataclass(frozen=True)
class Run:
    """What the training functions read, resolved once from the command line: typed, and
    kept apart from the parsed options instead of added onto them mid-run."""

    out: Path
    variants: str = "*"
    data: str | None = None
    epochs: int | None = None
    seed: int | None = None
    training_drawings: int = 0  # of each kind: a fine-tune after MNIST, or every epoch
    from_start: bool = False  # the drawings in every epoch instead of a fine-tune after
    quick: bool = False
    derive_only: bool = False
    progress: bool = True
    epoch_cache: EpochCache | None = None  # one seed's epochs, shared by every training

    @property
    def drawn_per_style(self) -> int:  # zoo.drawings; a smoke run measures on fewer
        return 10 if self.quick else drawings.PER_STYLE

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Run:
        out = args.out if args.out is not None else \
            ROOT / ("models-quick" if args.quick else "models")
        return cls(out=out, variants=args.variants, data=args.data, epochs=args.epochs,
                   seed=args.seed, quick=args.quick, training_drawings=args.drawings,
                   from_start=args.from_start, derive_only=args.derive_only,
                   progress=not args.no_progress,
                   epoch_cache=EpochCache(args.epoch_cache_mb * 2**20))


def float_parent(arch, run: Run, images: np.ndarray, labels: np.ndarray, mixed: tuple,
                 manifest: dict) -> tuple:
    """The trained float model of `arch` and the facts of its training: on MNIST
    (`images`), then on `mixed` if it holds drawings too (train.py --drawings), or on
    `mixed` from the first epoch (--from-start).

    Trained now, or with --derive-only read back (hash-checked) from the parent variant
    already in the models folder.
    """
    if run.derive_only:
        parent = f"{arch.name}-{arch.recipe.dtype}"
        e = manifest["variants"].get(parent)
        if e is None:
            raise ValueError(f"--derive-only: {parent} is not in {run.out / 'manifest.json'}; "
                             "train it first")
        trained_on = e.get("train_images")
        if not isinstance(trained_on, int) or trained_on > len(images):
            # a zoo from before the held-out split, or one that does not say
            raise ValueError(f"--derive-only: {parent} was trained on {trained_on!r} images, "
                             "maybe the held-out calibration images included; retrain it")
        return load_variant(run.out, parent, e["files"]), \
            {**{k: e[k] for k in TRAINING}, "drawings": e.get("drawings")}
    recipe = arch.recipe.with_(epochs=run.epochs or QUICK_EPOCHS) \
        if run.epochs or run.quick else arch.recipe
    seed = arch.seed if run.seed is None else run.seed
    model = arch.init(seed)
    # With --from-start `train_images` stays MNIST's count (--derive-only checks the split)
    stage = {"from_start": True, "train_images": len(mixed[1])} \
        if run.training_drawings and run.from_start else None
    history = train(model, *(mixed if stage else (images, labels)), recipe, seed,
                    progress=run.progress, desc=arch.name, cache=run.epoch_cache)
    if run.training_drawings and not stage:
        model, stage = fine_tuned(model, arch.drawings, run, mixed, seed,
                                  f"{arch.name} (drawings)")
    return model, {"recipe": recipe.to_dict(), "seed": seed, "epochs": recipe.epochs,
                   "train_images": len(images), "train_seconds": round(
                       history.seconds + (stage.get("train_seconds", 0) if stage else 0), 1),
                   "final_train_loss": round(history.loss[-1], 5), "drawings": stage,
                   "quick": run.quick}


def fine_tuned(parent, recipe, run: Run, data: tuple, seed: int, desc: str) -> tuple:
    """`parent` trained on `data` with `recipe` (one epoch in a smoke run), and how. Folded
    first, so what ships is what trained: a quantisation-aware fine-tune rounds the stored
    weights (a CNN's batch normalisation folded in) in its loop."""
    recipe = recipe.with_(epochs=1) if run.quick else recipe
    child = parent.folded().copy()
    history = train(child, *data, recipe, seed, progress=run.progress,
                    cache=run.epoch_cache, desc=desc)
    return child, {"recipe": recipe.to_dict(), "train_images": len(data[1]),
                   "train_seconds": round(history.seconds, 1),
                   "final_train_loss": round(history.loss[-1], 5)}


def quantisation_aware(v, parent, run: Run, data: tuple, x_test: np.ndarray,
                       y_test: np.ndarray) -> tuple:
    """`parent` fine-tuned with `v`'s quantisation in the loop, and what that did: its
    recipe, and the post-training-quantised accuracy it is measured against."""
    ptq_correct = evaluate(v.convert(parent), x_test, y_test)
    seed = v.architecture.seed if run.seed is None else run.seed
    child, facts = fine_tuned(parent, v.finetune, run, data, seed, f"{v.name} (QAT)")
    return child, {**facts, "seed": seed, "ptq_test_correct": ptq_correct,
                   "ptq_accuracy": ptq_correct / len(y_test)}


def train_zoo(run: Run, writer: ZooWriter) -> dict:
    """Train what `run` selects into `writer`; return the manifest written."""
    selected = zoo.variants(run.variants)
    archs = list(dict.fromkeys(v.architecture for v in selected))
    mnist = load_mnist(run.data, progress=run.progress)
    images, labels = (mnist.train_images[:-CALIBRATION_IMAGES],
                      mnist.train_labels[:-CALIBRATION_IMAGES])
    x_cal, y_cal = (mnist.train_images[-CALIBRATION_IMAGES:],
                    mnist.train_labels[-CALIBRATION_IMAGES:])
    if run.quick:
        images, labels = images[:QUICK_TRAIN_IMAGES], labels[:QUICK_TRAIN_IMAGES]
    x_test, y_test = mnist.test_images, mnist.test_labels
    n_test = len(y_test)
    verb = "deriving from" if run.derive_only else "training"
    when = "from the first epoch" if run.from_start else "after MNIST"
    also = f" (and {2 * run.training_drawings:,} drawings, {when})" if run.training_drawings else ""
    print(f"MNIST from {mnist.source}; {verb} {len(archs)} architecture(s) "
          f"on {len(images):,} images{also} -> {run.out}")
    mixed = images, labels  # MNIST and drawings, made only for what trains on them
    if run.training_drawings and (not run.derive_only or any(v.finetune for v in selected)):
        drawn = drawings.training_drawings(images, labels, run.training_drawings,
                                           progress=run.progress)
        mixed = np.concatenate([images, drawn[0]]), np.concatenate([labels, drawn[1]])
    manifest = writer.manifest
    for arch in archs:
        model, training = float_parent(arch, run, images, labels, mixed, writer.manifest)
        dtype = training["recipe"]["dtype"]
        parent_correct = evaluate(model, to_input(x_test, dtype), y_test)
        entries = {}
        for v in (v for v in selected if v.architecture is arch):
            source, qat = model, None
            if v.finetune is not None:
                source, qat = quantisation_aware(v, model, run, mixed,
                                                 to_input(x_test, dtype), y_test)
            files = writer.stage(v, source)
            # Evaluate the files as written, so the manifest describes what ships.
            figures = measured(writer.load_staged(v.name, files), (x_test, y_test),
                               (x_cal, y_cal), run.drawn_per_style)
            entries[v.name] = variant_entry(
                v.describe(), files, parent_correct=parent_correct, test_images=n_test,
                qat=qat, training=training, date=dt.date.today().isoformat(), **figures)
            print(f"  {v.name:<24} {100 * figures['test_correct'] / n_test:6.2f}%  "
                  f"{entries[v.name]['bytes'] / 1024:9.2f} KiB")
        # After each architecture, its files and manifest entries together: a crash keeps
        # the architectures finished so far, and never half of one.
        manifest = writer.commit(entries, **manifest_top(n_test))
    return manifest


def measure_ensembles(run: Run, writer: ZooWriter) -> dict:
    """Measure the ensembles and any missing drawn figure from the files; return the manifest."""
    def load(name: str):
        return load_variant(run.out, name, writer.manifest["variants"][name]["files"])
    if filled := drawings.missing_drawn_figures(writer.manifest["variants"], load,
                                                run.drawn_per_style):
        writer.commit(filled)
    variants = writer.manifest["variants"]
    ready = [e for e in zoo.ensembles() if all(m in variants for m in e.members)]
    for e in zoo.ensembles():
        if e not in ready:
            missing = ", ".join(m for m in e.members if m not in variants)
            print(f"ensemble {e.name}: not measured, {run.out} lacks {missing}")
    if not ready:
        return writer.manifest
    mnist = load_mnist(run.data, progress=False)
    votes = voting.measure(
        ready, variants, load,
        (mnist.train_images[-CALIBRATION_IMAGES:], mnist.train_labels[-CALIBRATION_IMAGES:]),
        (mnist.test_images, mnist.test_labels), dt.date.today().isoformat(),
        drawings.drawn_digits(run.drawn_per_style))
    for name, e in votes.items():
        print(f"  ensemble {name:<15} {100 * e['test_accuracy']:6.2f}%  "
              f"{e['bytes'] / 1024:9.2f} KiB  ({' + '.join(e['members'])})")
    # Ensembles registered elsewhere (a plugin not loaded now) keep their figures while
    # their members stay as they were measured; the writer drops them otherwise.
    return writer.commit({}, ensembles={**writer.manifest.get("ensembles", {}), **votes})


def train_not_a_digit(run: Run, writer: ZooWriter) -> dict:
    """Train the not-a-digit detector into `writer`; return the manifest written."""
    if not writer.manifest["variants"]:
        raise ValueError(f"the detector joins a zoo: {run.out} has no variants yet; train "
                         "them first (`python train.py`)")
    mnist = load_mnist(run.data, progress=run.progress)
    images, labels = (a[:-CALIBRATION_IMAGES] for a in (mnist.train_images, mnist.train_labels))
    held_out, held_labels = (a[-CALIBRATION_IMAGES:] for a in (mnist.train_images,
                                                                mnist.train_labels))
    sizes = {"epochs": run.epochs} if run.epochs else {}
    if run.quick:
        images, labels = images[:QUICK_TRAIN_IMAGES], labels[:QUICK_TRAIN_IMAGES]
        sizes = {"negatives": 1000, "drawn": 300, "validation": 300, "epochs": run.epochs or 1}
    print(f"training the not-a-digit detector on {len(images):,} MNIST digits and drawings")
    model, facts = train_detector(images, labels, held_out, held_labels, seed=run.seed or 0,
                                  progress=run.progress, **sizes)
    files = writer.stage(VARIANT, model)
    writer.load_staged(VARIANT.name, files)  # what ships reads back
    held = facts["held_out"]
    print(f"  threshold {facts['threshold']:.4f}: on held-out images flags "
          f"{100 * held['non_digits_flagged']:.1f}% of non-digits, "
          f"{100 * held['drawn_flagged']:.2f}% of drawn digits, "
          f"{100 * held['mnist_flagged']:.2f}% of MNIST digits")
    section = detector_entry(manifest_section(files, facts), quick=run.quick,
                             date=dt.date.today().isoformat())
    return writer.commit({}, detector=section)


def open_out(out: Path) -> ZooWriter:
    """The models folder, opened for writing before anything is trained: a bad --out (a
    file, not writable, in use by another run) must not cost a training run first."""
    writer = ZooWriter(out)
    for line in writer.repairs:
        print(line)
    return writer


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run = Run.from_args(args)
    publishing = args.push or args.push_only
    try:
        try:
            zoo.load_plugins(args.plugin)
        except (FileNotFoundError, ImportError, SyntaxError) as e:
            print(f"error: plugin: {e}", file=sys.stderr)
            return 1
        selected = zoo.variants(run.variants)
        if not selected:
            print(f"error: no registered variant matches {run.variants!r}; "
                  "see `python train.py --list`", file=sys.stderr)
            return 2
        if args.list:
            for v in selected:
                d = v.describe()
                print(f"{d['name']:<24} {d['family']:<4} {d['shape']:<18} {d['precision']:<8} "
                      f"params={d['params']:,}{'  (experimental)' if d['experimental'] else ''}")
            return 0
        if publishing and not hub.announce_access(args.repo):
            return 1
        if not args.push_only:
            with open_out(run.out) as writer:
                if not args.detector:
                    if not args.ensembles:
                        manifest = train_zoo(run, writer)
                    manifest = measure_ensembles(run, writer)
                if args.detector or (run.variants == "*" and not run.derive_only
                                     and not args.ensembles):
                    manifest = train_not_a_digit(run, writer)
            if manifest["variants"]:
                print()
                print(results(manifest))
        if publishing:
            return hub.push_and_report(run.out, args.repo, private=args.private,
                                       revision=args.revision, message=args.message,
                                       progress=not args.no_progress)
    except (MNISTError, TrainingDivergedError, FileNotFoundError, ValueError,
            zoo.ArtifactError, zoo.ManifestError, ZooWriteError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; the manifest lists every variant it listed before, and the "
              "architectures finished so far", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    try:
        code = main()
        sys.stdout.flush()  # here, where a reader that left can still be caught
    except BrokenPipeError:
        # The reader left (`--list | head -1`): stop quietly with the status of a tool that
        # SIGPIPE ended (128 + 13), stdout on devnull so the interpreter's flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 141
    raise SystemExit(code)
