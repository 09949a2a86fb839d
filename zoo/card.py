"""The model card: the Hub's README.md for a published zoo, built from the manifest.

`ModelCardData` writes the YAML the Hub reads: each variant's test accuracy goes into the
`model-index`, so the Hub shows the metrics. The body repeats the README's table.
"""

from __future__ import annotations

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from zoo.report import ordered, results_table

LICENSE = "mit"


def build_card(manifest: dict, repo_id: str) -> ModelCard:
    entries = ordered(manifest)
    data = ModelCardData(
        library_name="digit-zoo",
        license=LICENSE,
        datasets=["ylecun/mnist"],
        metrics=["accuracy"],
        pipeline_tag="image-classification",
        tags=["mnist", "numpy", "mlp", "quantization", "int8", "int4", "from-scratch"],
        model_name="digit-zoo",
        eval_results=[EvalResult(
            task_type="image-classification", dataset_type="ylecun/mnist", dataset_name="MNIST",
            dataset_split="test", metric_type="accuracy",
            metric_value=float(e["test_accuracy"]), metric_name=f"{e['name']} accuracy")
            for e in entries],
    )
    example = next((e["name"] for e in entries if e["precision"] == "int8"), entries[0]["name"])
    recipe = entries[0]["recipe"]
    aug = recipe.get("augment")
    body = f"""
# digit-zoo

Multi-layer perceptrons for handwritten digits, written from scratch in NumPy (forward,
backward, Adam, quantisation), trained on MNIST and stored in several precisions. One
revision of this repository pins the whole zoo: `manifest.json` lists every variant with its
files' SHA-256, its parameters and its measured accuracy.

## Variants

Accuracy on the 10,000 MNIST test images; size is the variant's files; Δ is against the
float32 parent the variant was derived from.

{results_table(manifest)}

## Use

```python
# pip install -r requirements.txt, in a clone of the digit-zoo project
import zoo
model = zoo.load("{example}", repo="{repo_id}")   # add revision="<commit>" to pin
probs = model.predict_proba(x)  # x: (N, 784) floats in [0, 1], white digit on black
```

Each file is checked against the manifest's SHA-256 before it is parsed; weights are
`safetensors`, settings JSON: nothing is unpickled.

## Training

Every architecture was trained once in {recipe['dtype']} on the 60,000 MNIST training
images: {recipe['optimizer']} (lr {recipe['lr']}, decoupled weight decay
{recipe['weight_decay']}), batch {recipe['batch_size']}, {recipe['epochs']} epochs,
{recipe['schedule'].replace('_', ' ')} schedule, seed {entries[0]['seed']}, augmentation
{'(random shifts, rotations, scales, shears and pen widths)' if aug else 'off'}. float64 is
the same weights widened; int8 and int4 are derived from the float32 weights without
retraining.

## Limits

- int4 is **experimental**: hidden layers in int4 with a float32 scale per group of 32
  inputs, packed two per byte, the 10-way output layer kept in int8.
- Quantisation is weight-only; inference computes in float32.
- These are small MLPs: expect mistakes on digits unlike MNIST (centre and scale drawings
  the way MNIST did, as the digit-zoo app's preprocessing does).
"""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")
