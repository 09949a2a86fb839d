"""Training throughput: one MNIST epoch, the engine vs PyTorch CPU, same work.

One epoch = 60,000 images, batch 128, Adam with decoupled weight decay 1e-4: a one-hidden-
layer MLP of each width, and the zoo's CNNs (the same layers in PyTorch, bench/peers.py).
Both sides shuffle, convert each batch from uint8 to floats as they use it and run it
forward, backward and through the optimiser; no augmentation. The engine runs its own
`engine.training.train`, as the zoo is trained.

PyTorch runs in its best ordinary CPU configuration:
- `torch.optim.AdamW(lr=1e-3, weight_decay=1e-4, fused=True)`: each parameter tensor
  updated in one pass (torch._fused_adamw_). With `foreach=True` instead, epochs took 1.2x
  as long at 1 thread (widths 64, 128, 512) and 1.06-1.2x at 2 threads (widths 64, 128) in
  a quick check (20,000 images, the two taking turns), so the bench uses fused. (On CPU,
  with neither flag, AdamW runs its per-parameter loop of separate operations.)
- each batch indexed out of the uint8 tensor and converted with `.float() / 255` as it is
  used, as the engine does; the indexed batch, and so every input, is contiguous;
- `opt.zero_grad(set_to_none=True)`, a `torch.nn.Sequential` of the same layers;
- threads: `torch.set_num_threads(n)` for PyTorch, and threadpoolctl's
  `threadpool_limits(n, user_api="blas")` for NumPy's BLAS (the engine), the same n; the
  engine's `train(threads=n)` splits a CNN's batches over n threads (engine/parallel.py),
  BLAS then at one thread each.
The sides take turns epoch by epoch (bench/_common.py's `take_turns`), after a warm-up
epoch each, with a pause before each timed epoch; each figure is a median. CNN epochs take
a minute, so their rows time `--cnn-images` images and scale up. The block ends with this
machine's NumPy sgemm rate at each thread count, measured before and after the epochs.

    MNIST_DIR=... python bench/training_speed.py [--widths 64,128,256,512] [--repeats 5]

Its table is the `bench:training` block of docs/benchmarks.md; `--doc docs/benchmarks.md`
rewrites it there.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
from _common import (
    emit,
    mnist,
    parser,
    sgemm_note,
    sgemm_rates,
    shipped_cnns,
    table,
    take_turns,
)
from peers import torch_module
from threadpoolctl import threadpool_limits

import zoo
from engine import heap
from engine.mlp import MLP
from engine.model import Model
from engine.training import Recipe, init_model, train


def engine_epoch(model: Model, images: np.ndarray, labels: np.ndarray, threads: int) -> float:
    recipe = Recipe(epochs=1, dtype=str(model.dtype), augment=None)
    start = time.perf_counter()
    train(model, images, labels, recipe, 0, progress=False, threads=threads)
    return time.perf_counter() - start


def torch_epoch(like: Model, images: np.ndarray, labels: np.ndarray) -> float:
    import torch

    torch.manual_seed(0)
    model = torch_module(like)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4, fused=True)
    shape = (-1, 1, 28, 28) if model[0].__class__.__name__ == "Conv2d" else (-1, 784)
    x_u8 = torch.from_numpy(images).reshape(shape)
    y_all = torch.from_numpy(labels.astype(np.int64))
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    order = torch.randperm(len(images))
    for i in range(0, len(images), 128):
        idx = order[i:i + 128]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x_u8[idx].float() / 255.0), y_all[idx])
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def interleaved(fns: dict[str, Callable[[], float]], repeats: int, scale: float = 1.0
                ) -> dict[str, list[float]]:
    """Each function's seconds (times `scale`) round by round, the functions taking turns
    after a warm-up round."""
    return {k: [x * scale for x in v] for k, v in take_turns(fns, repeats, PAUSE).items()}


def spread(seconds: list[float]) -> str:
    """The median, with the range of the rounds."""
    return f"{statistics.median(seconds):.2f} [{min(seconds):.2f}-{max(seconds):.2f}]"


def speed_up(torch_s: list[float], engine_s: list[float]) -> str:
    """PyTorch / engine: the ratio of the medians, with the range of the round-by-round
    ratios (each round's two epochs ran back to back)."""
    rounds = [t / e for t, e in zip(torch_s, engine_s)]
    return (f"**{statistics.median(torch_s) / statistics.median(engine_s):.2f}x** "
            f"[{min(rounds):.2f}-{max(rounds):.2f}]")


PAUSE = 1.0  # before each timed epoch: idle worker threads of the side before go to sleep


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--widths", default="64,128,256,512")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--cnns", default=",".join(shipped_cnns()),
                   help="CNN architectures ('' for none; default: every registered network)")
    p.add_argument("--cnn-images", type=int, default=10_000)
    p.add_argument("--cnn-repeats", type=int, default=3)
    args = p.parse_args()
    data = mnist(args.data)
    images, labels = data.train_images, data.train_labels
    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch is not installed (pip install -r requirements-bench.txt); "
              "printing the engine's figures alone.\n")
    # What train() asks of malloc at its first call, asked here before either side runs,
    # so both share one allocator setting throughout (PyTorch's epochs measured the same
    # with it as without: engine/heap.py).
    kept = heap.keep_freed_memory()
    widths = [int(w) for w in filter(None, args.widths.split(","))]
    n, scale = args.cnn_images, len(images) / args.cnn_images
    rows = []
    thread_counts = [int(t) for t in args.threads.split(",")]
    before = sgemm_rates(thread_counts)
    for threads in thread_counts:
        if torch is not None:
            torch.set_num_threads(threads)
        with threadpool_limits(limits=threads, user_api="blas"):
            for width in widths:
                def mlp(dtype, w=width):
                    return init_model(MLP, {"sizes": [784, w, 10]}, 0, dtype)

                fns = {d: lambda d=d, m=mlp, t=threads: engine_epoch(m(d), images, labels, t)
                       for d in ("float32", "float64")}
                if torch is not None:
                    fns["torch"] = lambda m=mlp: torch_epoch(m("float32"), images, labels)
                t = interleaved(fns, args.repeats)
                f32, f64 = t["float32"], t["float64"]
                row = [f"mlp-h{width}", threads, spread(f32), spread(f64),
                       f"{statistics.median(f64) / statistics.median(f32):.2f}x"]
                row += [spread(t["torch"]), speed_up(t["torch"], f32)] if torch else ["–", "–"]
                rows.append(row)
                print(" | ".join(map(str, row)), flush=True)
            for name in filter(None, args.cnns.split(",")):
                arch = zoo.registry.ARCHITECTURES[name]
                fns = {"float32": lambda a=arch, t=threads: engine_epoch(
                    a.init(), images[:n], labels[:n], t)}
                if torch is not None:
                    fns["torch"] = lambda a=arch: torch_epoch(a.init(), images[:n], labels[:n])
                t = interleaved(fns, args.cnn_repeats, scale)
                row = [name, threads, spread(t["float32"]), "–", "–"]
                row += [spread(t["torch"]), speed_up(t["torch"], t["float32"])] if torch else \
                    ["–", "–"]
                rows.append(row)
                print(" | ".join(map(str, row)), flush=True)
    after = sgemm_rates(thread_counts)
    version = f"PyTorch {torch.__version__}" if torch is not None else "PyTorch not installed"
    emit("training", table(["model", "threads", "engine float32 s/epoch",
                            "engine float64 s/epoch", "float64 / float32",
                            "PyTorch float32 s/epoch", "speed-up vs PyTorch"], rows) +
         f"\n\nSpeed-up = PyTorch seconds / engine float32 seconds (above 1: the engine is "
         f"faster), the ratio of the medians with the range of the round-by-round ratios in "
         f"brackets; seconds are medians with the range of the rounds. Median of "
         f"{args.repeats} epochs each ({args.cnn_repeats} for CNNs, timed "
         f"on {args.cnn_images:,} images and scaled to 60,000) after a warm-up, the libraries "
         f"taking turns epoch by epoch with a {PAUSE:.0f} s pause before each; {version}: "
         "AdamW(fused=True) (faster here than foreach=True), each batch converted with "
         ".float() / 255 as it is used, contiguous; threads set with torch.set_num_threads "
         "(PyTorch) and threadpoolctl (NumPy's BLAS); the engine's CNN training splits each "
         "batch over the same number of threads (engine/parallel.py), BLAS then at one "
         "thread each. " + ("Both in a process whose malloc keeps freed memory for reuse "
                            "(engine/heap.py, as train() sets it)." if kept else
                            "malloc left as it is (not glibc's)."), args.doc,
         sgemm=sgemm_note(before, after))


if __name__ == "__main__":
    main()
