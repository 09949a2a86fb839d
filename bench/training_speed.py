"""Training throughput: one MNIST epoch, the engine vs PyTorch CPU, same work.

One epoch = 60,000 images, batch 128, Adam with decoupled weight decay 1e-4, a one-hidden-
layer MLP of each width. Both sides shuffle, convert the uint8 images to floats and run
every batch forward, backward and through the optimiser; no augmentation. The engine runs
its own `engine.training.train`, as the zoo is trained. Thread counts are set with
threadpoolctl (NumPy's BLAS) and torch.set_num_threads. Each figure is a median.

    MNIST_DIR=... python bench/training_speed.py [--widths 64,128,256,512] [--repeats 3]
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
from _common import emit, mnist, parser, table
from threadpoolctl import threadpool_limits

from engine.training import Recipe, init_model, train


def engine_epoch(images: np.ndarray, labels: np.ndarray, width: int, dtype: str) -> float:
    model = init_model([784, width, 10], 0, dtype)
    recipe = Recipe(epochs=1, dtype=dtype, augment=None)
    start = time.perf_counter()
    train(model, images, labels, recipe, 0, progress=False)
    return time.perf_counter() - start


def torch_epoch(images: np.ndarray, labels: np.ndarray, width: int):
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, width), nn.ReLU(), nn.Linear(width, 10))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    x_u8 = torch.from_numpy(images.reshape(len(images), -1))
    y_all = torch.from_numpy(labels.astype(np.int64))
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    order = torch.randperm(len(images))
    x_all = x_u8[order].float() / 255.0
    y = y_all[order]
    for i in range(0, len(images), 128):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x_all[i:i + 128]), y[i:i + 128])
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def interleaved(fns: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, run in turn (A B C A B C ...) after a warm-up each.

    Taking turns puts any drift in the machine's speed on every side alike, so the ratios
    hold even when the absolute figures move. The pause at each switch lets the idle worker
    threads of the library just used (PyTorch's OpenMP pool spins for a while) go to sleep
    before the next one is timed.
    """
    times: dict[str, list[float]] = {k: [] for k in fns}
    for rep in range(repeats + 1):
        for k, fn in fns.items():
            t = fn()
            time.sleep(PAUSE)
            if rep:  # the first round is the warm-up
                times[k].append(t)
    return {k: statistics.median(v) for k, v in times.items()}


PAUSE = 1.0


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--widths", default="64,128,256,512")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    data = mnist(args.data)
    images, labels = data.train_images, data.train_labels
    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch is not installed (pip install -r requirements-bench.txt); "
              "printing the engine's figures alone.\n")
    widths = [int(w) for w in args.widths.split(",")]
    rows = []
    for threads in (int(t) for t in args.threads.split(",")):
        if torch is not None:
            torch.set_num_threads(threads)
        with threadpool_limits(limits=threads):
            for width in widths:
                fns = {d: lambda w=width, d=d: engine_epoch(images, labels, w, d)
                       for d in ("float32", "float64")}
                if torch is not None:
                    fns["torch"] = lambda w=width: torch_epoch(images, labels, w)
                t = interleaved(fns, args.repeats)
                f32, f64 = t["float32"], t["float64"]
                row = [width, threads, f"{f32:.2f}", f"{f64:.2f}", f"{f64 / f32:.2f}x"]
                row += [f"{t['torch']:.2f}", f"**{t['torch'] / f32:.2f}x**"] if torch else \
                    ["–", "–"]
                rows.append(row)
                print(" | ".join(map(str, row)), flush=True)
    version = f"PyTorch {torch.__version__}" if torch is not None else "PyTorch not installed"
    emit("training", table(["width", "threads", "engine float32 s/epoch",
                            "engine float64 s/epoch", "float64 / float32",
                            "PyTorch float32 s/epoch", "speed-up vs PyTorch"], rows) +
         f"\n\nSpeed-up = PyTorch seconds / engine float32 seconds (above 1: the engine is "
         f"faster). Median of {args.repeats} epochs each after a warm-up, the libraries taking "
         f"turns epoch by epoch with a {PAUSE:.0f} s pause between; {version}.", args.readme)


if __name__ == "__main__":
    main()
