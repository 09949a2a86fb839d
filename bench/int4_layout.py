"""Which int4 layout: per-channel or group-wise scales; the output layer at int4 or int8?

For every shipped float32 parent, quantise to int4 with each layout, evaluate on the
MNIST test set and report the accuracy lost and the bytes relative to float64.

    MNIST_DIR=... python bench/int4_layout.py [--data DIR]

Its table is the `bench:int4` block of docs/benchmarks.md; `--doc docs/benchmarks.md`
rewrites it there.
"""

from __future__ import annotations

from _common import emit, mnist, parser, table
from safetensors.numpy import save

import zoo
from engine.model import evaluate
from engine.training import to_input
from zoo.precisions import Int4
from zoo.report import ordered

LAYOUTS = [(None, 4), (64, 4), (32, 4), (16, 4), (None, 8), (32, 8)]  # (group, output bits)


def main() -> None:
    args = parser(__doc__).parse_args()
    data = mnist(args.data)
    x, y = to_input(data.test_images), data.test_labels
    shipped = zoo.open()
    manifest = shipped.manifest
    rows = []
    for e in ordered(manifest):
        if e["precision"] != "float32":
            continue
        name = e["name"]
        parent = shipped.load(name)
        family, config = type(parent), parent.config()
        f64 = manifest["variants"][name.replace("float32", "float64")]["files"]
        f64_bytes = next(f["bytes"] for k, f in f64.items() if k.endswith(".safetensors"))
        row = [e["architecture"], f"{100 * e['test_accuracy']:.2f}%"]
        for g, output_bits in LAYOUTS:
            p = Int4()
            p.group_size, p.output_bits = g, output_bits
            tensors, p_config = p.encode(parent)
            model = family.from_state_dict(config, p.decode(tensors, p_config,
                                                            family.shapes(config)))
            delta = 100 * (evaluate(model, x, y) / len(y) - e["test_accuracy"])
            row.append(f"{delta:+.2f} pts, {100 * len(save(tensors)) / f64_bytes:.1f}%")
        rows.append(row)
    emit("int4", table(["architecture", "float32 acc"] +
                       [f"{f'g={g}' if g else 'per-channel'}, output int{b}" for g, b in LAYOUTS],
                       rows) + "\n\nEach cell: accuracy change vs the float32 parent, "
         "weight-file bytes vs float64.", args.doc)


if __name__ == "__main__":
    main()
