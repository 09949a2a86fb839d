"""Tables made from the manifest, for the terminal, the README and the model card.

    python -m zoo.report                 # print the table of models/manifest.json
    python -m zoo.report --readme README.md   # rewrite the README's results block
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from engine.atomic import atomic_write
from zoo.manifest import ManifestError, read_manifest
from zoo.sources import default_models_dir

HEADER = ["variant", "family", "shape", "precision", "params", "size (KiB)", "% of float64",
          "test accuracy", "Δ to parent", "drawn digits", "training (s)"]


def ordered(manifest: dict) -> list[dict]:
    """Entries by family, then architecture (in params order), then bits, widest first."""
    return sorted(manifest["variants"].values(),
                  key=lambda e: (family_of(e), e["params"], e["architecture"], -e["bits"]))


def family_of(e: dict) -> str:
    return e.get("family") or "mlp"  # a manifest from before families held only MLPs


def shape_of(e: dict) -> str:
    """The family-neutral shape; a manifest from before families had `hidden` widths."""
    return e.get("shape") or "x".join(map(str, e.get("hidden", [])))


def kib(n: int, places: int = 2) -> str:
    """Bytes as KiB, the unit every size in the zoo is shown in."""
    return f"{n / 1024:.{places}f}"


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def results_table(manifest: dict) -> str:
    entries = ordered(manifest)
    f64 = {e["architecture"]: e["bytes"] for e in entries if e["precision"] == "float64"}
    rows = []
    for e in entries:
        ratio = f"{100 * e['bytes'] / f64[e['architecture']]:.1f}%" \
            if e["architecture"] in f64 else "–"
        delta = "parent" if e["parent"] is None else f"{e.get('delta_to_parent', 0):+.2f} pts"
        if e.get("qat"):  # fine-tuned with quantisation in the loop; PTQ scored this much
            delta += f" (QAT; rounded after training: {100 * e['qat']['ptq_accuracy']:.2f}%)"
        name = f"`{e['name']}`" + (" *(experimental)*" if e.get("experimental") else "")
        rows.append([name, family_of(e), shape_of(e), e["precision"], f"{e['params']:,}",
                     kib(e["bytes"]), ratio, f"{100 * e['test_accuracy']:.2f}%", delta,
                     percent(e.get("drawn_accuracy")), training_time(e)])
    return markdown_table(HEADER, rows)


def percent(fraction: float | None) -> str:
    """A fraction as a percentage, or a dash for a figure the manifest does not have."""
    return "–" if fraction is None else f"{100 * fraction:.2f}%"


def training_time(e: dict) -> str:
    """The float parent's training, plus the variant's own fine-tune when it has one."""
    if not isinstance(e.get("train_seconds"), (int, float)):
        return "–"
    own = (e.get("qat") or {}).get("train_seconds")
    return f"{e['train_seconds']:,.0f}" + (f" + {own:,.0f}" if own else "")


ENSEMBLE_HEADER = ["ensemble", "members (calibrated probabilities averaged)", "size (KiB)",
                   "test accuracy", "best member", "held-out accuracy", "ECE (test)",
                   "drawn digits"]


def ensembles_table(manifest: dict) -> str:
    """The manifest's ensembles beside their best member (empty text if it has none)."""
    section = manifest.get("ensembles") or {}
    rows = []
    for e in sorted(section.values(), key=lambda e: (-e["test_accuracy"], e["bytes"])):
        best = max(e["members"], key=lambda m: manifest["variants"][m]["test_accuracy"])
        name = f"`{e['name']}`" + (" *(experimental)*" if e.get("experimental") else "")
        views = e.get("views") or []
        seen = f", each in {len(views)} views" if len(views) > 1 else ""
        rows.append([name, " + ".join(f"`{m}`" for m in e["members"]) + seen, kib(e["bytes"]),
                     f"{100 * e['test_accuracy']:.2f}%",
                     f"`{best}` {100 * manifest['variants'][best]['test_accuracy']:.2f}%",
                     *(percent(e.get(k)) for k in ("validation_accuracy", "ece_test",
                                                   "drawn_accuracy"))])
    return markdown_table(ENSEMBLE_HEADER, rows) if rows else ""


def results(manifest: dict) -> str:
    """The README's results block: every variant, then the ensembles."""
    ensembles = ensembles_table(manifest)
    return results_table(manifest) + (f"\n\n{ensembles}" if ensembles else "")


def markers(name: str = "results") -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


START, END = markers("results")  # the manifest's table in the README


def replace_block(text: str, block: str, name: str = "results") -> str:
    """Put `block` between the `name` markers of a Markdown text."""
    start, end = markers(name)
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"no {start} ... {end} block to replace")
    return pattern.sub(lambda _: f"{start}\n{block}\n{end}", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=None, help="models folder")
    parser.add_argument("--readme", type=Path, help="rewrite this file's results block")
    args = parser.parse_args(argv)
    try:
        table = results(read_manifest(args.models or default_models_dir()))
    except ManifestError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.readme:
        atomic_write(args.readme, replace_block(args.readme.read_text(), table))
        print(f"updated {args.readme}")
    else:
        print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
