"""How close each path gets to the machine: achieved GFLOP/s against NumPy's sgemm.

The reference is a large float32 matrix product with NumPy (2048x2048, best of 5), the most
this machine's BLAS does, measured before and after the timed part (and float64 once, for
scale). Against it, in float32, for one-hidden-layer MLPs of each width and the zoo's CNNs
(freshly initialised, as training starts them):
- batch inference: `predict_proba` on the 10,000 test images in one call;
- one training step: a batch of 128 training images converted from uint8 to floats, its
  loss and gradients (`loss_and_grads`: forward and backward) and one `engine.optim.Adam`
  step with weight decay, the work `engine.training.train` does per batch; the median step;
- one training epoch: `engine.training.train` for one epoch without augmentation (adds
  shuffling, the learning-rate schedule and the loop), on the 60,000 training images for
  MLPs and the first `--cnn-images` for CNNs (a CNN epoch takes tens of seconds).
A CNN's inference and training run inside `engine.parallel.splitting(threads)`: a batch's
images shared among the threads, BLAS at one thread each (an MLP's products are threaded
by BLAS alone). FLOPs count the matrix products only (bench/flops.py says how;
convolutions as their im2col GEMMs): forward per image for inference, about three times
that for training.

    MNIST_DIR=... python bench/roofline.py [--threads 2] [--widths 32,64,128,256,512]
        [--cnns cnn-c8c16,cnn-c32c64] [--cnn-images 10000] [--repeats 5]

Its table is the `bench:roofline` block of docs/benchmarks.md; `--doc docs/benchmarks.md`
rewrites it there.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
from _common import (
    emit,
    matmul_gflops,
    mnist,
    parser,
    sgemm_note,
    sgemm_rates,
    shipped_cnns,
    table,
)
from flops import forward_flops, layer_flops, train_flops
from threadpoolctl import threadpool_limits

import zoo
from engine import parallel
from engine.cnn import CNN, CONV_DEFAULTS
from engine.conv_layer import layer_backward, layer_forward
from engine.mlp import MLP
from engine.model import Model
from engine.optim import Adam
from engine.training import Recipe, init_model, to_input, train

BATCH = 128
STEP_SECONDS = 1.0  # training steps are timed for at least this long (and 20 steps)


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def inference_seconds(model: Model, x: np.ndarray, repeats: int) -> float:
    model.predict_proba(x)
    return statistics.median(_seconds(lambda: model.predict_proba(x)) for _ in range(repeats))


def step_seconds(model: Model, images: np.ndarray, labels: np.ndarray) -> float:
    """Median seconds of one step (convert, forward, backward, Adam) over successive batches."""
    opt = Adam(model.parameters(), weight_decay=1e-4)

    def step(i: int) -> None:
        start = i % (len(images) // BATCH) * BATCH
        s = slice(start, start + BATCH)
        _, grads = model.loss_and_grads(to_input(images[s], model.dtype), labels[s])
        opt.step(grads, 1e-3)

    for i in range(5):
        step(i)
    times: list[float] = []
    while len(times) < 20 or sum(times) < STEP_SECONDS:
        start = time.perf_counter()
        step(len(times))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def epoch_seconds(make: Callable[[], Model], images: np.ndarray, labels: np.ndarray,
                  repeats: int, threads: int) -> float:
    recipe = Recipe(epochs=1, augment=None)
    return statistics.median(_seconds(lambda: train(make(), images, labels, recipe, 0,
                                                    progress=False, threads=threads))
                             for _ in range(repeats))


def cnn_layers(model: CNN, images: np.ndarray, peak: float) -> list[list[str]]:
    """Each convolution's share of a training step, forward (patches, product, pool, ReLU)
    and backward (ReLU mask, pool, weight and bias gradients, input gradient but for the
    first layer), timed as `CNN._forward` and `_backward` run them on one batch (its
    images shared among `engine.parallel`'s threads), with its product's GFLOP/s: where
    the step's time goes, layer by layer."""
    h, w = (int(v) for v in model.config().get("input", (28, 28)))
    a = to_input(images[:BATCH], model.dtype).reshape(BATCH, h, w, 1)
    flops = layer_flops(model)
    shares = parallel.shares(BATCH)
    rows = []
    for i, (conv, spec) in enumerate(zip(model.convs, model.config()["conv"])):
        pool = int({**CONV_DEFAULTS, **spec}["pool"])
        cols = np.empty(conv.patches_shape(a.shape), a.dtype)

        def forward(a=a, conv=conv, pool=pool, cols=cols):
            return parallel.each(lambda k, s: layer_forward(conv, pool, a[s], cols[s]), shares)

        outs = forward()
        out = np.concatenate([o for o, _ in outs])
        kept = [layer for _, layer in outs]
        dz = np.random.default_rng(i).standard_normal(out.shape).astype(out.dtype)

        def backward(a=a, conv=conv, cols=cols, kept=kept, dz=dz, first=i == 0):
            layer_backward(conv, cols, kept, [dz[s] for s in shares], shares, True,
                           None if first else [a[s].shape for s in shares])

        t_f = statistics.median(_seconds(forward) for _ in range(9))
        t_b = statistics.median(_seconds(backward) for _ in range(9))
        products_b = 2 if i else 1  # weight gradients, and input gradients but for layer 0

        def gf(flop: int, seconds: float) -> str:
            rate = flop * BATCH / seconds / 1e9
            return f"{1000 * seconds:.2f} ms, {rate:.1f} GFLOP/s ({100 * rate / peak:.0f}%)"

        kh, kw, c_in, c_out = conv.W.shape
        oh, ow = cols.shape[1:3]
        rows.append([f"conv {i}: {kh}x{kw}, {c_in} -> {c_out} channels, {oh}x{ow} map, pooled "
                     f"to {out.shape[1]}x{out.shape[2]}", gf(flops[i], t_f),
                     gf(products_b * flops[i], t_b)])
        a = out
    return rows


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--widths", default="32,64,128,256,512", help="MLP widths ('' for none)")
    p.add_argument("--cnns", default=",".join(shipped_cnns()),
                   help="CNN architectures ('' for none)")
    p.add_argument("--cnn-images", type=int, default=10_000, help="images in a CNN's epoch")
    p.add_argument("--repeats", type=int, default=5, help="inference calls (epochs: 3)")
    args = p.parse_args()
    data = mnist(args.data)
    makers: dict[str, Callable[[], Model]] = {
        f"mlp-h{w}": lambda w=int(w): init_model(MLP, {"sizes": [784, w, 10]}, 0, "float32")
        for w in filter(None, args.widths.split(","))}
    for name in filter(None, args.cnns.split(",")):
        makers[name] = zoo.registry.ARCHITECTURES[name].init
    rows, layers = [], []
    before = sgemm_rates([args.threads])
    peak, peak64 = before[args.threads], matmul_gflops("float64", args.threads)

    def rate(flops: int, images: int, seconds: float) -> str:
        gf = flops * images / seconds / 1e9
        return f"{gf:.1f} ({100 * gf / peak:.0f}%)"

    with threadpool_limits(limits=args.threads, user_api="blas"):
        x = to_input(data.test_images)
        for name, make in makers.items():
            model = make()
            if model.dtype != np.float32:
                raise SystemExit(f"{name} initialises in {model.dtype}; the roofline is float32")
            n = len(data.train_images) if isinstance(model, MLP) else args.cnn_images
            images, labels = data.train_images[:n], data.train_labels[:n]
            fwd, trn = forward_flops(model), train_flops(model)
            with parallel.for_model(model, args.threads):
                infer = inference_seconds(model, x, args.repeats)
                step = step_seconds(make(), images, labels)
                if isinstance(model, CNN):
                    layers += [[name, *row, f"{1000 * step:.1f} ms"]
                               for row in cnn_layers(make(), images, peak)]
            epoch = epoch_seconds(make, images, labels, 3, args.threads)
            rows.append([name, f"{fwd / 1e6:.3f}", f"{trn / 1e6:.3f}", rate(fwd, len(x), infer),
                         rate(trn, BATCH, step), rate(trn, n, epoch)])
            print(" | ".join(rows[-1]), flush=True)
    after = sgemm_rates([args.threads])
    emit("roofline", f"NumPy matmul at {args.threads} threads (2048x2048, best of 5): "
         f"**{peak:.1f} GFLOP/s float32** (the 100% below), {peak64:.1f} GFLOP/s float64.\n\n" +
         table(["model", "MFLOP / image, forward", "MFLOP / image, training",
                "batch inference, GFLOP/s (% of sgemm)",
                f"training step ({BATCH} images), GFLOP/s (% of sgemm)",
                "training epoch, GFLOP/s (% of sgemm)"], rows) +
         f"\n\nFloat32, {args.threads} threads. Inference: the 10,000 test images in one "
         f"call, median of {args.repeats}. Step: convert a batch of {BATCH}, forward, "
         "backward and one Adam update, median over at least 20 steps and "
         f"{STEP_SECONDS:.0f} s. Epoch: `train` for one epoch without augmentation, median of "
         f"3, on 60,000 images for MLPs and {args.cnn_images:,} for CNNs. FLOPs count the "
         "matrix products only (convolutions as im2col GEMMs; training = forward + weight "
         "gradients + input gradients of all but the first layer).\n\n"
         + table(["model", "convolution", f"forward of {BATCH} images (product's rate)",
                  "backward (products' rate)", "whole step"], layers)
         + "\n\nEach convolution's forward (patches, product, pooling, ReLU) and backward "
         "(ReLU mask, pooling, weight and bias gradients, input gradient but for the first "
         "layer), timed apart, median of 9; the whole step (as above, with the dense layers, "
         "the loss and Adam) beside them.", args.doc,
         sgemm=sgemm_note(before, after))


if __name__ == "__main__":
    main()
