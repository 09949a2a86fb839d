"""Mini-batch training of any engine model on uint8 images: the recipe and the loop.

Everything random (initialisation, shuffling, augmentation) draws from generators spawned
from one seed, so one seed gives bit-identical weights on the same machine.

Augmenting an epoch (a warp per image) costs about as much as training a small MLP on
it, so a worker thread prepares the next epoch's shuffled, augmented images while the
current one trains (OpenCV releases the GIL while it warps), and an `EpochCache` lets
runs that would prepare the same epochs (the zoo's architectures share a seed, images and
augmentation) prepare them once. Either way each epoch is drawn from the same generators
in the same order, so neither changes a bit of the result.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from tqdm.auto import tqdm

from engine import heap, parallel
from engine.augment import Augment, augment
from engine.model import Model
from engine.optim import OPTIMIZERS
from engine.qat import QAT, fake_quantized
from engine.schedule import SCHEDULES


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite: the learning rate is too high for this recipe."""


@dataclass(frozen=True)
class Recipe:
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9  # SGD only
    weight_decay: float = 1e-4
    schedule: str = "warmup_cosine"
    warmup_epochs: float = 1.0
    min_lr: float = 1e-5
    dtype: str = "float32"
    augment: Augment | None = field(default_factory=Augment)
    qat: QAT | None = None  # train through fake-quantised weights (engine/qat.py)

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; "
                             f"choose from {sorted(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose from {sorted(SCHEDULES)}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, not {self.dtype!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")

    def with_(self, **changes) -> Recipe:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["augment"] = self.augment.to_dict() if self.augment else None
        d["qat"] = self.qat.to_dict() if self.qat else None
        return d


@dataclass
class History:
    loss: list[float] = field(default_factory=list)  # mean training loss per epoch
    seconds: float = 0.0


def to_input(images: np.ndarray, dtype: str | np.dtype = "float32",
             out: np.ndarray | None = None) -> np.ndarray:
    """uint8 (N, 28, 28) -> floats in [0, 1]: the one input convention of every model.

    One pass (cast and divide together), into `out` when given: the training loop reuses
    one batch buffer instead of allocating two arrays per step.
    """
    if out is None:
        out = np.empty(images.shape, dtype)
    return np.divide(images, out.dtype.type(255), out=out, dtype=out.dtype)


def train(model: Model, images: np.ndarray, labels: np.ndarray, recipe: Recipe, seed: int = 0,
          progress: bool = True, desc: str = "train", cache: EpochCache | None = None,
          threads: int | None = None) -> History:
    """Train `model` in place on uint8 `images` (N, 28, 28) with integer `labels`.

    `cache`: prepared epochs shared with other runs (see `EpochCache`). `threads`: how many
    threads share each batch of a model that splits its batches (`Model.shares_batches`;
    default: every core, see engine/parallel.py); the weights come out the same.
    """
    if model.frozen:
        raise ValueError(f"{model!r} is frozen for inference (a loaded artifact's weights are "
                         "read-only); train model.copy() instead")
    heap.keep_freed_memory()  # every step's large arrays reuse the last step's memory
    params = model.parameters()
    opt_cls = OPTIMIZERS[recipe.optimizer]
    kwargs = {"momentum": recipe.momentum} if recipe.optimizer == "sgd" else {}
    opt = opt_cls(params, weight_decay=recipe.weight_decay, **kwargs)
    schedule = SCHEDULES[recipe.schedule]
    n = len(images)
    steps_per_epoch = math.ceil(n / recipe.batch_size)
    total = steps_per_epoch * recipe.epochs
    warmup = int(recipe.warmup_epochs * steps_per_epoch)
    history = History()
    start = time.perf_counter()
    step = 0
    # Converted batch by batch into one buffer: a whole epoch as floats is 188 MB
    # (float32) or 376 MB (float64) of memory traffic that a batch keeps in cache.
    buffer = np.empty((recipe.batch_size, *images.shape[1:]), recipe.dtype)
    with tqdm(total=total, desc=desc, unit="batch", disable=not progress, leave=False) as bar, \
            parallel.for_model(model, threads or parallel.default_threads()):
        for epoch, (epoch_images, y_all) in enumerate(
                epochs(images, labels, recipe, seed, cache)):
            total_loss = 0.0
            for i in range(0, n, recipe.batch_size):
                x = epoch_images[i:i + recipe.batch_size]
                y = y_all[i:i + recipe.batch_size]
                with fake_quantized(model, recipe.qat):
                    loss, grads = model.loss_and_grads(to_input(x, out=buffer[:len(x)]), y)
                if not math.isfinite(loss):
                    raise TrainingDivergedError(
                        f"loss became {loss} at epoch {epoch + 1}, step {step + 1} "
                        f"(lr={recipe.lr}); lower the learning rate")
                lr = schedule(step, total, recipe.lr, warmup, recipe.min_lr)
                opt.step(grads, lr)
                total_loss += loss * len(y)
                step += 1
                bar.update(1)
            history.loss.append(total_loss / n)
            bar.set_postfix(epoch=epoch + 1, loss=f"{history.loss[-1]:.4f}")
    history.seconds = time.perf_counter() - start
    return history


def epochs(images: np.ndarray, labels: np.ndarray, recipe: Recipe, seed: int,
           cache: EpochCache | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each epoch's images (shuffled, augmented) and labels, one epoch prepared ahead.

    Only the worker draws from the seed's two generators, epoch after epoch, so the images
    are the ones a plain loop would make. Epochs already in `cache` are taken from it, and
    the generators resume from the state the cache kept after its last one. If training
    stops early, the epoch in preparation is finished and dropped (a fraction of a second).
    """
    key = cache.key(images, labels, recipe, seed) if cache is not None else None
    known = cache.epochs(key) if cache is not None else []
    _, shuffle_rng, aug_rng = streams(seed)  # the first one initialised the model
    if known and len(known) < recipe.epochs:
        shuffle_rng.bit_generator.state, aug_rng.bit_generator.state = known[-1][2]

    def prepare() -> tuple[np.ndarray, np.ndarray, tuple]:
        order = shuffle_rng.permutation(len(images))
        x = images[order]
        if recipe.augment is not None:
            x = augment(x, aug_rng, recipe.augment)
        x.flags.writeable = False  # shared with later runs through the cache
        # The generators' states after this epoch: where a longer run would resume.
        return x, labels[order], (shuffle_rng.bit_generator.state, aug_rng.bit_generator.state)

    with ThreadPoolExecutor(1, thread_name_prefix="next-epoch") as worker:
        upcoming = worker.submit(prepare) if len(known) < recipe.epochs else None
        for epoch in range(recipe.epochs):
            if epoch < len(known):
                yield known[epoch][:2]
                continue
            x, y, states = upcoming.result()
            if epoch + 1 < recipe.epochs:
                upcoming = worker.submit(prepare)
            if cache is not None:
                cache.add(key, x, y, states)
            yield x, y


class EpochCache:
    """Prepared epochs kept for the next training run that would make the same ones.

    The zoo's architectures share one seed, the training images and the augmentation, so
    they all train on the same shuffled, augmented epochs, and the quantisation-aware
    fine-tunes see the first few again: preparing them once saves most of a zoo run's
    augmentation. An epoch is its images and labels (read-only) and the generators' states
    after it, so a longer run continues the stream where the cache ends. Held in memory up
    to `max_bytes` (an MNIST epoch is 43 MB); epochs past the budget are not kept.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bytes = 0
        self._store: dict[tuple, list[tuple]] = {}

    @staticmethod
    def key(images: np.ndarray, labels: np.ndarray, recipe: Recipe, seed: int) -> tuple:
        """Everything an epoch depends on: the data (by content), the augmentation, the seed."""
        digest = hashlib.blake2b(digest_size=16)
        for a in (images, labels):
            a = np.ascontiguousarray(a)
            digest.update(f"{a.dtype}{a.shape}".encode())
            digest.update(memoryview(a).cast("B"))
        return digest.hexdigest(), recipe.augment, int(seed)

    def epochs(self, key: tuple) -> list[tuple]:
        return list(self._store.get(key, []))

    def add(self, key: tuple, x: np.ndarray, y: np.ndarray, states: tuple) -> None:
        """Keep the next epoch of `key`'s stream, if the budget allows."""
        size = x.nbytes + y.nbytes
        if self.bytes + size <= self.max_bytes:
            self._store.setdefault(key, []).append((x, y, states))
            self.bytes += size


def streams(seed: int) -> list[np.random.Generator]:
    """Independent generators for initialisation, shuffling and augmentation.

    Separate streams keep each one's draws fixed when another changes: turning
    augmentation off does not reshuffle the batches.
    """
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]


def init_model(family: type[Model], config: dict, seed: int, dtype: str) -> Model:
    """The model `train` expects for this seed: initialised from the seed's first stream."""
    return family.init(config, streams(seed)[0], dtype)
