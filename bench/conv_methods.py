"""Three ways to compute the zoo's 3x3 convolutions, timed against each other.

The engine gathers every patch into a matrix (im2col, `engine.conv`) and multiplies it by
the kernel: one large product, but a copy nine times the size of the map. Two candidates
that copy less, each written here in NumPy as the engine would run it:

- **rows**: the padded map copied once, each pixel beside its two right-hand neighbours
  (three times the map, not nine); each kernel row is then a contiguous slab of that copy's
  rows across the whole batch (an image's last two rows read into the next image and are
  dropped), so the convolution is three products of K = 3C accumulated.
- **winograd**: F(2x2, 3x3) (Lavin & Gray 2016): each 4x4 tile of the map and the kernel
  go to a domain where a 2x2 block of outputs costs 16 multiplications per channel pair
  instead of 36; sixteen products of K = C, with additions around them.

Every layer of the zoo with a 3x3 kernel and more than one input channel, on random maps
and weights, a chunk of images at a time (the engine's batch path reads 16-64 at once),
without the pooling (the same for all three); at one BLAS thread, the methods taking
turns. Each method's output is checked against im2col's (the largest deviation is shown:
winograd's transforms round differently).

    python bench/conv_methods.py [--images 16] [--rounds 5]

Its table is the `bench:conv-methods` block of docs/benchmarks.md; `--doc
docs/benchmarks.md` rewrites it there.
"""

from __future__ import annotations

import statistics
import time
from functools import partial

import numpy as np
from _common import emit, parser, sgemm_note, sgemm_rates, shipped_cnns, table, take_turns
from threadpoolctl import threadpool_limits

from engine.cnn import CONV_DEFAULTS
from engine.conv import im2col
from zoo.registry import ARCHITECTURES


def by_im2col(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    """The engine's way: every 3x3 patch copied into a row, one product."""
    cols = im2col(x, 3, 3)
    n, oh, ow = cols.shape[:3]
    return (cols.reshape(n * oh * ow, -1) @ W.reshape(-1, W.shape[-1])).reshape(n, oh, ow, -1)


def by_rows(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Three products over slabs of a copy holding each pixel's row of three neighbours."""
    n, h, w, c = x.shape
    oh, ow, c_out = h - 2, w - 2, W.shape[-1]
    s = x.strides
    view = np.ndarray((n, h, ow, 3 * c), x.dtype, x, 0, (s[0], s[1], s[2], s[3]))
    rows = np.ascontiguousarray(view).reshape(n * h * ow, 3 * c)
    m = n * h * ow - 2 * ow  # output rows: every place of every image, and two junk rows
    z = np.empty((n * h * ow, c_out), x.dtype)
    part = np.empty((m, c_out), x.dtype)
    np.matmul(rows[:m], W[0].reshape(3 * c, c_out), out=z[:m])
    for i in (1, 2):
        np.matmul(rows[i * ow:i * ow + m], W[i].reshape(3 * c, c_out), out=part)
        z[:m] += part
    return z.reshape(n, h, ow, c_out)[:, :oh]


# F(2x2, 3x3): Y = A^T [(G g G^T) * (B^T d B)] A
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])


def winograd_kernel(W: np.ndarray) -> np.ndarray:
    """(3, 3, C, C_out) -> (16, C, C_out): the kernel in the transformed domain, made once."""
    U = np.einsum("ai,ijco,bj->abco", G, W.astype(np.float64), G)
    return U.reshape(16, *W.shape[2:]).astype(W.dtype)


def _bt(d: list) -> list:
    """B^T applied along one axis of a 4-tap list."""
    return [d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3]]


def by_winograd(x: np.ndarray, U: np.ndarray) -> np.ndarray:
    """2x2 output tiles, each from a 4x4 input tile: 16 products of K = C."""
    n, h, w, c = x.shape
    oh, ow = h - 2, w - 2
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    if 2 * th + 2 > h or 2 * tw + 2 > w:  # an odd map: one more zero row or column
        grown = np.zeros((n, 2 * th + 2, 2 * tw + 2, c), x.dtype)
        grown[:, :h, :w] = x
        x = grown
    s = x.strides
    tiles = np.ndarray((4, 4, n, th, tw, c), x.dtype, x, 0,
                       (s[1], s[2], s[0], 2 * s[1], 2 * s[2], s[3]))
    cols = [_bt([tiles[a, b] for a in range(4)]) for b in range(4)]  # [b][a]
    V = np.empty((16, n * th * tw, c), x.dtype)
    for a in range(4):
        for b, v in enumerate(_bt([cols[j][a] for j in range(4)])):
            V[4 * a + b] = v.reshape(-1, c)
    M = np.matmul(V, U).reshape(4, 4, n, th, tw, -1)
    r = [M[0] + M[1] + M[2], M[1] - M[2] - M[3]]  # A^T along the tile's rows
    y = np.empty((n, th, 2, tw, 2, U.shape[-1]), x.dtype)
    for i in range(2):
        y[:, :, i, :, 0] = r[i][0] + r[i][1] + r[i][2]
        y[:, :, i, :, 1] = r[i][1] - r[i][2] - r[i][3]
    return y.reshape(n, 2 * th, 2 * tw, -1)[:, :oh, :ow]


def methods(x: np.ndarray, W: np.ndarray) -> dict:
    """Each method as a call on this map and kernel (winograd's kernel transformed once)."""
    U = winograd_kernel(W)
    return {"im2col": partial(by_im2col, x, W), "rows": partial(by_rows, x, W),
            "winograd": partial(by_winograd, x, U)}


def layers() -> list[tuple[str, int, int, int, int]]:
    """(network, layer, padded side, c_in, c_out) of every 3x3 convolution with more than
    one input channel, each shape once."""
    seen, out = set(), []
    for name in shipped_cnns():
        config = ARCHITECTURES[name].config
        side, c = 28, 1
        for i, conv in enumerate({**CONV_DEFAULTS, **spec} for spec in config["conv"]):
            padded = side + 2 * conv["pad"]
            if conv["kernel"] == 3 and c > 1 and (padded, c, conv["channels"]) not in seen:
                seen.add((padded, c, conv["channels"]))
                out.append((name, i, padded, c, conv["channels"]))
            side = (padded - conv["kernel"] + 1) // conv["pool"]
            c = conv["channels"]
    return out


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--images", type=int, default=16, help="images per call (a chunk)")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    before = sgemm_rates([1])
    rows = []
    with threadpool_limits(1):
        for name, i, side, c, c_out in layers():
            x = rng.random((args.images, side, side, c), np.float32)  # a padded map
            W = (rng.standard_normal((3, 3, c, c_out)) / np.sqrt(9 * c)).astype(np.float32)
            fns = methods(x, W)
            ref = fns["im2col"]()
            dev = {m: float(np.abs(fns[m]() - ref).max() / np.abs(ref).max())
                   for m in ("rows", "winograd")}
            calls = max(1, round(0.05 / _per_call(fns["im2col"], 1)))  # about 50 ms a turn
            t = take_turns({m: partial(_per_call, f, calls) for m, f in fns.items()},
                           args.rounds, 0.05)
            base = statistics.median(t["im2col"])
            flops = 2 * 9 * c * c_out * (side - 2) ** 2 * args.images
            rows.append([f"`{name}` conv {i}", f"{side - 2}x{side - 2}, {c} -> {c_out}",
                         f"{base * 1e3:.2f} ms ({flops / base / 1e9:.0f} GFLOP/s)",
                         *(f"{statistics.median(t[m]) * 1e3:.2f} ms "
                           f"(**{base / statistics.median(t[m]):.2f}x**), "
                           f"{dev[m]:.0e}" for m in ("rows", "winograd"))])
            print(" | ".join(rows[-1]), flush=True)
    after = sgemm_rates([1])
    emit("conv-methods", table(
        ["layer", "output map, channels", "im2col (the engine)", "rows: time (speed-up), "
         "largest deviation", "winograd: time (speed-up), largest deviation"], rows)
        + f"\n\n{args.images} images a call, 1 BLAS thread, median of {args.rounds} rounds "
        "(the methods taking turns), without pooling; GFLOP/s count the direct "
        "convolution's multiply-adds; a deviation is the largest difference from im2col's "
        "output over its largest value.", args.doc, sgemm_note(before, after))


def _per_call(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


if __name__ == "__main__":
    main()
