"""The model card: the Hub's README.md for a published zoo, built from the manifest.

`ModelCardData` writes the YAML the Hub reads: `library_name`, the MNIST dataset (linked on
the Hub), a tag per precision in the zoo, and a `model-index` with one accuracy result per
variant, so the Hub's evaluation panel lists the whole zoo. The body repeats the README's
table. Nothing here reads an architecture's own fields (its shape or family): the card
describes any model the zoo holds.
"""

from __future__ import annotations

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from zoo.report import ensembles_table, ordered, results_table

LICENSE = "mit"
LIBRARY = "digit-zoo"
DATASET = "ylecun/mnist"
QUANTISED = ("int8", "int4")


def tags(manifest: dict) -> list[str]:
    """What the Hub filters on: the data, the approach, and every precision in the zoo."""
    precisions = sorted({e["precision"] for e in manifest["variants"].values()})
    quantised = ["quantization"] if any(p in QUANTISED for p in precisions) else []
    return ["mnist", "numpy", "from-scratch", LIBRARY, *quantised, *precisions]


def eval_results(manifest: dict) -> list[EvalResult]:
    """One MNIST-test accuracy per variant and per ensemble, named after it (the Hub lists
    each)."""
    entries = [*ordered(manifest), *(manifest.get("ensembles") or {}).values()]
    return [EvalResult(
        task_type="image-classification", task_name="Handwritten digit classification",
        dataset_type=DATASET, dataset_name="MNIST", dataset_split="test",
        metric_type="accuracy", metric_value=float(e["test_accuracy"]),
        metric_name=f"{e['name']} accuracy", metric_config=e["name"])
        for e in entries]


def _ensembles(manifest: dict, repo_id: str) -> str:
    table = ensembles_table(manifest)
    if not table:
        return ""
    return f"""
## Ensembles

An ensemble answers with the mean of its members' calibrated probabilities (each member's
logits divided by its fitted temperature, then softmax); its size is its members' sizes.
An ensemble "in 7 views" has each member read the drawing as given, moved one pixel each
way and turned 6 degrees each way, and average those first. Held-out accuracy is on the
5,000 training images no variant trained on.

{table}

```python
vote = zoo.open("{repo_id}").load_ensemble("{next(iter(manifest["ensembles"]))}")
probs = vote.predict_proba(preprocess(drawing).x)
```
"""


def _training(entries: list[dict]) -> str:
    """The recipes, if the manifest recorded them (they are not part of the required schema):
    one line per distinct recipe, naming the architectures that used it."""
    keys = ("dtype", "optimizer", "lr", "weight_decay", "batch_size", "epochs", "schedule")
    recipes: list[tuple[str, str]] = []
    for e in entries:
        recipe = e.get("recipe")
        if not isinstance(recipe, dict) or not all(k in recipe for k in keys):
            return "Each variant's recipe is recorded in `manifest.json`."
        aug = recipe.get("augment")
        line = (f"{recipe['optimizer']} (lr {recipe['lr']}, decoupled weight decay "
                f"{recipe['weight_decay']}), batch {recipe['batch_size']}, {recipe['epochs']} "
                f"epochs, {str(recipe['schedule']).replace('_', ' ')} schedule, seed "
                f"{e.get('seed')}, augmentation {'on' if aug else 'off'}")
        recipes.append((line, e["architecture"]))
    lines = _grouped(recipes)
    counts = {e.get("train_images") for e in entries}  # a smoke run trains on fewer
    n = counts.pop() if len(counts) == 1 else None
    images = f"{n:,}" if isinstance(n, int) else "up to 55,000"
    return f"""Every architecture was trained once in float32 on {images} of the 60,000 MNIST
training images, the last 5,000 held out for calibration and for choosing ensembles
(augmentation: random shifts, rotations, scales, shears and pen widths):

{lines}
{_drawings(entries)}
float64 is the same weights widened and int8 the same weights rounded; int4 and int2 are
fine-tuned from the float32 weights with the quantisation in the loop. Shapes ending in
`+bn` trained with batch normalisation, stored folded into their convolutions."""


def _drawings(entries: list[dict]) -> str:
    """Which architectures learnt drawn digits too (train.py --drawings), and how; empty
    for a zoo trained on MNIST alone."""
    ways: list[tuple[str, str]] = []
    for e in entries:
        stage, mnist = e.get("drawings"), e.get("train_images")
        if not isinstance(stage, dict) or not isinstance(stage.get("train_images"), int) \
                or not isinstance(mnist, int):
            continue
        drawn = f"{stage['train_images'] - mnist:,} drawn digits"
        way = (f"with {drawn} in every epoch" if stage.get("from_start") is True
               else f"then fine-tuned on those and {drawn}")
        ways.append((way, e["architecture"]))
    if not ways:
        return ""
    return ("\nDrawn digits (MNIST digits redrawn as strokes, pen-stroke digits in printed "
            "faces and styles,\nthrough the app's preprocessing) joined the training of "
            "these:\n\n" + _grouped(ways) + "\n")


def _grouped(pairs: list[tuple[str, str]]) -> str:
    """One line per distinct text, naming the architectures it holds for, in order met."""
    archs: dict[str, list[str]] = {}
    for text, arch in pairs:
        names = archs.setdefault(text, [])
        if arch not in names:
            names.append(arch)
    return "\n".join(f"- {', '.join(names)}: {text}." for text, names in archs.items())


def build_card(manifest: dict, repo_id: str) -> ModelCard:
    entries = ordered(manifest)
    data = ModelCardData(
        library_name=LIBRARY,
        license=LICENSE,
        datasets=[DATASET],
        metrics=["accuracy"],
        pipeline_tag="image-classification",
        tags=tags(manifest),
        model_name="digit-zoo",
        eval_results=eval_results(manifest),
    )
    example = next((e["name"] for e in entries if e["precision"] == "int8"), entries[0]["name"])
    body = f"""
# digit-zoo

Models for handwritten digits, written from scratch in NumPy (forward, backward, Adam,
quantisation), trained on MNIST and stored in several precisions
({", ".join(sorted({e["precision"] for e in entries}))}). One revision of this repository
pins the whole zoo: `manifest.json` lists every variant with its files' SHA-256, its
parameters and its measured accuracy.

## Variants

Accuracy on the 10,000 MNIST test images; size is the variant's files; Δ is against the
float32 parent the variant was derived from.

{results_table(manifest)}
{_ensembles(manifest, repo_id)}
## Use

```python
# pip install -r requirements.txt, in a clone of the digit-zoo project
import zoo
from engine.preprocess import preprocess

model = zoo.load("{example}", repo="{repo_id}")   # add revision="<commit>" to pin
probs = model.predict_proba(preprocess(drawing).x)  # any drawing -> 10 probabilities
```

Each file is checked against the manifest's SHA-256 before it is parsed; weights are
`safetensors`, settings JSON: nothing is unpickled.

## Training

{_training(entries)}

## Limits

- int4 is **experimental**: weights (dense matrices and convolution kernels) packed two
  per byte with a float32 scale per group of 32 inputs, the classifier layer kept in int8.
- Quantisation is weight-only; inference computes in float32.
- These are small models: expect mistakes on digits unlike MNIST (centre and scale drawings
  the way MNIST did, as the digit-zoo app's preprocessing does).
"""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")
