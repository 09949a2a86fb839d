"""How close each path gets to the machine: FLOPs per image vs what NumPy's matmul reaches.

The reference is a large float32 (and float64) matrix product with NumPy, the best this
machine's BLAS does. Against it: the engine's batch inference on the 10,000 test images and
one training epoch (forward, backward, Adam), per width, in achieved GFLOP/s. FLOPs count
the matrix products (2 per multiply-add), which dominate: forward 2 * sum(in * out) per
image; training about three times that (forward, weight gradients, and the hidden layers'
input gradients; the input layer's is never computed).

    MNIST_DIR=... python bench/roofline.py [--threads 2] [--widths 32,64,128,256,512]
"""

from __future__ import annotations

import itertools
import statistics
import time

import numpy as np
from _common import emit, mnist, parser, table
from threadpoolctl import threadpool_limits

from engine.mlp import MLP
from engine.training import Recipe, init_model, to_input, train


def forward_flops(sizes: list[int]) -> int:
    return sum(2 * a * b for a, b in itertools.pairwise(sizes))


def train_flops(sizes: list[int]) -> int:
    pairs = list(itertools.pairwise(sizes))
    grads_w = sum(2 * a * b for a, b in pairs)
    grads_x = sum(2 * a * b for a, b in pairs[1:])
    return forward_flops(sizes) + grads_w + grads_x


def matmul_gflops(dtype: str, n: int = 2048, repeats: int = 5) -> float:
    a = np.random.default_rng(0).random((n, n)).astype(dtype)
    b = np.random.default_rng(1).random((n, n)).astype(dtype)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--widths", default="32,64,128,256,512")
    args = p.parse_args()
    data = mnist(args.data)
    rows = []
    with threadpool_limits(limits=args.threads):
        peak32, peak64 = matmul_gflops("float32"), matmul_gflops("float64")
        x = to_input(data.test_images)
        for width in (int(w) for w in args.widths.split(",")):
            sizes = [784, width, 10]
            model = init_model(MLP, {"sizes": sizes}, 0, "float32")
            model.predict_proba(x)
            infer = statistics.median(_timed(lambda m=model: m.predict_proba(x))
                                      for _ in range(7))
            infer_gf = forward_flops(sizes) * len(x) / infer / 1e9
            recipe = Recipe(epochs=1, augment=None)
            epoch = statistics.median(_timed(lambda s=sizes, r=recipe: train(
                init_model(MLP, {"sizes": s}, 0, "float32"), data.train_images,
                data.train_labels, r, 0, progress=False)) for _ in range(3))
            train_gf = train_flops(sizes) * len(data.train_images) / epoch / 1e9
            rows.append([width, f"{forward_flops(sizes) / 1e6:.3f}",
                         f"{train_flops(sizes) / 1e6:.3f}",
                         f"{infer_gf:.1f} ({100 * infer_gf / peak32:.0f}%)",
                         f"{train_gf:.1f} ({100 * train_gf / peak32:.0f}%)"])
    emit("roofline", f"NumPy matmul (2048x2048, best of 5, {args.threads} threads): "
         f"**{peak32:.1f} GFLOP/s float32**, {peak64:.1f} GFLOP/s float64.\n\n" +
         table(["width", "MFLOP / image, forward", "MFLOP / image, training",
                "engine batch inference, GFLOP/s (% of matmul)",
                "engine training epoch, GFLOP/s (% of matmul)"], rows), args.readme)


if __name__ == "__main__":
    main()
