"""How long the zoo takes to train, and whether the retrained files are the shipped ones.

Runs `train.py` itself into a temporary folder, as a user retraining the zoo would: with
no selection everything `python train.py` trains by default (every architecture in every
precision, the fine-tunes, the not-a-digit detector), or the `--variants` selected (then
no detector, as in train.py). It reads the new manifest: each architecture's float
training time and its fine-tunes' (int4, int2) time, from `train_seconds`, the detector's,
and whether every file's SHA-256 equals the shipped manifest's. Equal hashes mean the
speed-ups changed no bit: the same weights, so the same accuracy. With
`--compare-no-cache` the run is repeated without the epoch cache (every epoch prepared
anew), so the cache's share is measured in the same sitting.

    MNIST_DIR=... python bench/zoo_training.py [--variants 'mlp-*'] [--compare-no-cache]

Its table is the `bench:zoo-training` block of docs/benchmarks.md; `--doc docs/benchmarks.md`
rewrites it there.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, emit, parser, table

sys.path.insert(0, str(ROOT))
import train  # the entry script, found through the path set just above


def run(variants: str, data: str | None, cache_mb: int) -> tuple[dict, float]:
    with tempfile.TemporaryDirectory() as d:
        argv = ["--variants", variants, "--out", d, "--no-progress",
                "--epoch-cache-mb", str(cache_mb)] + (["--data", data] if data else [])
        start = time.perf_counter()
        if train.main(argv) != 0:
            raise SystemExit("train.py failed")
        wall = time.perf_counter() - start
        return json.loads((Path(d) / "manifest.json").read_text()), wall


def same_files(new: dict, old: dict | None) -> bool:
    return bool(old) and {k: f["sha256"] for k, f in new["files"].items()} == \
        {k: f["sha256"] for k, f in old["files"].items()}


def rows_of(manifest: dict, shipped: dict) -> tuple[list[list], dict]:
    import zoo

    order = list(zoo.registry.ARCHITECTURES)
    per_arch: dict[str, dict] = {}
    for name, e in sorted(manifest["variants"].items(),
                          key=lambda kv: (order.index(kv[1]["architecture"]), kv[0])):
        a = per_arch.setdefault(e["architecture"], {"float": e["train_seconds"], "qat": {},
                                                    "same": 0, "variants": 0})
        if e.get("qat"):
            a["qat"][e["precision"]] = e["qat"]["train_seconds"]
        a["variants"] += 1
        a["same"] += same_files(e, shipped["variants"].get(name))
    rows = [[f"`{arch}`", f"{a['float']:.1f}",
             ", ".join(f"{p} {s:.1f}" for p, s in sorted(a["qat"].items())) or "–",
             f"{a['same']} of {a['variants']}"] for arch, a in per_arch.items()]
    totals = {"float": sum(a["float"] for a in per_arch.values()),
              "qat": sum(sum(a["qat"].values()) for a in per_arch.values()),
              "same": sum(a["same"] for a in per_arch.values()),
              "variants": sum(a["variants"] for a in per_arch.values())}
    detector = manifest.get("detector")
    if detector:
        same = same_files(detector, shipped.get("detector"))
        rows.append([f"`{detector['name']}` (the not-a-digit detector)",
                     f"{detector['train_seconds']:.1f}", "–", f"{int(same)} of 1"])
        totals["float"] += detector["train_seconds"]
        totals["same"] += same
        totals["variants"] += 1
    return rows, totals


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--variants", default="*",
                   help="what to retrain (default: everything, the detector included)")
    p.add_argument("--epoch-cache-mb", type=int, default=1500)
    p.add_argument("--compare-no-cache", action="store_true")
    args = p.parse_args()
    data = args.data or os.environ.get("MNIST_DIR")
    shipped_path = ROOT / "models" / "manifest.json"
    shipped = json.loads(shipped_path.read_text()) if shipped_path.exists() else {}
    shipped.setdefault("variants", {})
    runs = [("epoch cache", args.epoch_cache_mb)]
    if args.compare_no_cache:
        runs.append(("no cache", 0))
    text = []
    for label, mb in runs:
        manifest, wall = run(args.variants, data, mb)
        rows, t = rows_of(manifest, shipped)
        rows.append(["**total**", f"**{t['float']:.1f}**", f"**{t['qat']:.1f}**",
                     f"**{t['same']} of {t['variants']}**"])
        what = "everything `python train.py` trains by default, the detector included" \
            if args.variants == "*" else f"`{args.variants}`"
        text.append(f"{label} ({mb} MB), {what}: training **{t['float']:.0f} s**, "
                    f"fine-tunes {t['qat']:.0f} s, whole run **{wall:.0f} s** (with "
                    f"evaluation, calibration and writing).\n\n" +
                    table(["architecture", "float training s", "fine-tunes s (QAT)",
                           "files identical to the shipped ones"], rows))
        print(text[-1], flush=True)
    emit("zoo-training", "\n\n".join(text) + "\n\nSeconds are the manifest's "
         "`train_seconds`; 'identical' compares each file's SHA-256 with models/manifest.json "
         "(bit-identical weights need the same machine; for MLPs also the same BLAS thread "
         "count).", args.doc)


if __name__ == "__main__":
    main()
