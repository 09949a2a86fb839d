"""The zoo by the numbers: accuracy, parameters, bytes on disk and bytes of weights.

Bytes on disk are the variant's files (safetensors + config.json); bytes of weights are the
tensors alone (quantised weights, their scales, biases). Beside them, the figures the
project this grows from (MNIST_Engine) reported for its one width.

    python bench/zoo_table.py

Its table is the `bench:zoo` block of docs/benchmarks.md; `--doc docs/benchmarks.md`
rewrites it there.
"""

from __future__ import annotations

from _common import emit, parser, table
from safetensors.numpy import load

import zoo
from zoo.artifacts import variant_files
from zoo.report import ordered

ORIGINAL = [("MNIST_Engine float64 (reported)", "96.00%", "–", "383.82 KB", "–"),
            ("MNIST_Engine int8 (reported)", "96.09%", "–", "28.94 KB", "–")]


def main() -> None:
    args = parser(__doc__).parse_args()
    shipped = zoo.open()
    rows = []
    for e in ordered(shipped.manifest):
        tensors = load((shipped.models_dir / variant_files(e["name"])[0]).read_bytes())
        weight_bytes = sum(t.nbytes for t in tensors.values())
        rows.append([f"`{e['name']}`", f"{100 * e['test_accuracy']:.2f}%", f"{e['params']:,}",
                     f"{e['bytes'] / 1024:,.2f} KiB", f"{weight_bytes / 1024:,.2f} KiB"])
    rows += [list(r) for r in ORIGINAL]
    emit("zoo", table(["variant", "MNIST test", "parameters", "bytes on disk",
                       "bytes of weights"], rows) +
         "\n\nThe last two rows are the original project's reported figures, for reference "
         "(its KB unit and architecture are its own).", args.doc)


if __name__ == "__main__":
    main()
