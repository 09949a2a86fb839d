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


def median_of(fn, repeats: int) -> float:
    fn()  # warm-up: first-touch allocations, BLAS thread start
    return statistics.median(fn() for _ in range(repeats))


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--widths", default="64,128,256,512")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=3)
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
    thread_counts = [int(t) for t in args.threads.split(",")]
    # Every engine figure first: once PyTorch has run, its OpenMP workers keep spinning for
    # a while and take cores from NumPy's BLAS, which would skew the engine's figures.
    engine = {}
    for threads in thread_counts:
        with threadpool_limits(limits=threads):
            for width in widths:
                engine[threads, width] = tuple(
                    median_of(lambda w=width, d=dtype: engine_epoch(images, labels, w, d),
                              args.repeats) for dtype in ("float32", "float64"))
                print(f"engine width {width}, {threads} thread(s): {engine[threads, width]}",
                      flush=True)
    rows = []
    for threads in thread_counts:
        if torch is not None:
            torch.set_num_threads(threads)
        for width in widths:
            f32, f64 = engine[threads, width]
            row = [width, threads, f"{f32:.2f}", f"{f64:.2f}", f"{f64 / f32:.2f}x"]
            if torch is not None:
                pt = median_of(lambda w=width: torch_epoch(images, labels, w), args.repeats)
                row += [f"{pt:.2f}", f"**{pt / f32:.2f}x**"]
            else:
                row += ["–", "–"]
            rows.append(row)
            print(" | ".join(map(str, row)), flush=True)
    version = f"PyTorch {torch.__version__}" if torch is not None else "PyTorch not installed"
    emit("training", table(["width", "threads", "engine float32 s/epoch",
                            "engine float64 s/epoch", "float64 / float32",
                            "PyTorch float32 s/epoch", "speed-up vs PyTorch"], rows) +
         f"\n\nSpeed-up = PyTorch seconds / engine float32 seconds (above 1: the engine is "
         f"faster). Median of {args.repeats} epochs after a warm-up; all engine runs before "
         f"any PyTorch run; {version}.", args.readme)


if __name__ == "__main__":
    main()
