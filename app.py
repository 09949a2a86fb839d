"""digit-zoo's app: draw a digit, and see several variants of the zoo classify it side by side.

    python app.py            # or: gradio app.py (reloads on edits)

Models come from the shipped models/ unless ZOO_REPO (and optionally ZOO_REVISION) name a
Hub repo. The prediction is `predict(drawing, variants)`, also served as the API endpoint
/predict for gradio_client.
"""

from __future__ import annotations

import io
import math

import cv2
import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from engine.image import MAX_SIDE
from zoo.canvas import MAX_LAYERS
from zoo.predictor import Predictor
from zoo.report import family_of, shape_of

if gr.NO_RELOAD:  # one-time set-up: `gradio app.py` reloads the UI, not this
    PREDICTOR = Predictor.from_env()

ENTRIES = {e["name"]: e for e in PREDICTOR.entries}


def _default_selection() -> list[str]:
    """The most accurate float variant of each family (the best first), plus one MLP
    width in float64, int8 and int4 to show what precision costs."""
    floats = [e for e in ENTRIES.values() if e["precision"] in ("float32", "float64")]
    best = {}
    for e in sorted(floats, key=lambda e: (-e["test_accuracy"], e["bytes"])):
        best.setdefault(family_of(e), e["name"])
    names = [*best.values(), *(f"mlp-h128-{p}" for p in ("float64", "int8", "int4"))]
    return list(dict.fromkeys(n for n in names if n in ENTRIES)) or list(ENTRIES)[:4]


DEFAULT = _default_selection()


def predict(drawing, variants: list[str] | str | None = None) -> dict:
    """Each selected variant's 10 probabilities for a drawing.

    `drawing` is anything the app accepts: the Sketchpad's {"background", "layers",
    "composite"} dict, an image array (greyscale, RGB or RGBA; black on white or white on
    black; any size), or None. `variants` is a list of names (each counted once), one name,
    or empty for the default selection. Returns {"status", "message", "probabilities":
    {variant: [p0..p9]}, "top", "ms", "errors", "input": the 28x28 image the models saw}.
    """
    return PREDICTOR.predict(drawing, variants or DEFAULT).to_json()


def _as_sent(payload):
    return payload


def _headers_first(decode):
    """The pad's decoding, after a look at what it would decode: Gradio reads every image
    of an upload (composite, background, any number of layers) into memory before `predict`
    runs, so their count and, from each file's header, their size are checked first."""

    def checked(payload):
        if payload is not None:
            blobs = payload.id and pad.blob_storage.get(payload.id)
            source = blobs or payload
            files = [source.background, source.composite, *(source.layers or [])]
            if len(source.layers or []) > MAX_LAYERS:
                raise gr.Error(f"At most {MAX_LAYERS} layers, not {len(source.layers)}.")
            for f in files:
                if f is None:
                    continue
                try:  # PIL reads the header only, until the pixels are asked for
                    with Image.open(io.BytesIO(f) if isinstance(f, bytes) else f.path) as im:
                        w, h = im.size
                except (UnidentifiedImageError, OSError) as e:
                    raise gr.Error(f"Cannot read that image: {e}") from e
                if max(w, h) > MAX_SIDE:
                    raise gr.Error(f"Cannot read that image: {w}x{h} pixels is more than "
                                   f"{MAX_SIDE} per side.")
        return decode(payload)

    return checked


def _kib(n: int) -> str:
    return f"{n / 1024:,.1f} KiB"


def _choice_label(e: dict) -> str:
    flag = " · experimental" if e.get("experimental") else ""
    return f"{e['name']} · {100 * e['test_accuracy']:.2f}% · {_kib(e['bytes'])}{flag}"


def _zoo_table() -> pd.DataFrame:
    return pd.DataFrame([{
        "variant": e["name"], "family": family_of(e), "shape": shape_of(e),
        "precision": e["precision"], "parameters": e["params"],
        "size (KiB)": round(e["bytes"] / 1024, 1),
        "test accuracy (%)": round(100 * e["test_accuracy"], 2),
        "Δ to parent (pts)": e.get("delta_to_parent", 0.0) if e["parent"] else 0.0,
    } for e in ENTRIES.values()])


def _zoo_points() -> pd.DataFrame:
    return pd.DataFrame([{
        "log10 size (KiB)": round(math.log10(e["bytes"] / 1024), 3),
        "size (KiB)": round(e["bytes"] / 1024, 1),
        "accuracy (%)": round(100 * e["test_accuracy"], 2),
        "precision": e["precision"], "family": family_of(e), "variant": e["name"],
    } for e in ENTRIES.values()])


def _preview(result: dict) -> np.ndarray:
    img = (np.asarray(result["input"], np.float32) * 255).astype(np.uint8)
    return cv2.resize(img, (168, 168), interpolation=cv2.INTER_NEAREST)


def _card_markdown(name: str, result: dict, majority: int | None) -> str:
    e = ENTRIES.get(name, {})
    lines = [f"**{name}**" + (" · *experimental*" if e.get("experimental") else "")]
    if e:
        lines.append(f"{_kib(e['bytes'])} · MNIST test {100 * e['test_accuracy']:.2f}%")
    if name in result["errors"]:
        lines.append(f"⚠️ could not load: {result['errors'][name]}")
    elif name in result["ms"]:
        top = result["top"][name]
        mark = " · ⚠️ **disagrees**" if majority is not None and top != majority else ""
        lines.append(f"says **{top}** in {result['ms'][name]:.2f} ms{mark}")
    return "  \n".join(lines)


# Gradio 6.31's Sketchpad opens with no tool selected ("select the draw tool to start"):
# pick the brush once the editor has mounted, so a visitor can draw straight away.
SELECT_BRUSH = """() => {
  let tries = 0;
  const timer = setInterval(() => {
    const brush = document.querySelector('#pad button[aria-label="Brush"]');
    if (brush) brush.click();
    if (brush || ++tries > 100) clearInterval(timer);
  }, 100);
}"""

CSS = """
#pad {max-width: 340px}
.card {min-width: 170px}
"""

with gr.Blocks(title="digit-zoo") as demo:
    gr.Markdown(
        "# digit-zoo\n"
        "Draw a digit. Multi-layer perceptrons and convolutional networks written from "
        "scratch in NumPy, stored in float64, float32, int8 and (experimental) int4, answer "
        "side by side. "
        f"Models: {PREDICTOR.source}.")
    if PREDICTOR.notice:
        gr.Markdown(f"⚠️ {PREDICTOR.notice}")
    with gr.Row():
        pad = gr.Sketchpad(
            type="numpy", image_mode="L", canvas_size=(280, 280), fixed_canvas=True,
            layers=False, label="Draw one digit", elem_id="pad",
            brush=gr.Brush(default_size=12, colors=["#000000"], color_mode="fixed"))
        with gr.Column():
            variants = gr.CheckboxGroup(
                choices=[(_choice_label(e), n) for n, e in ENTRIES.items()],
                value=DEFAULT, label="Variants to compare")
            # API clients set the variants too: what they send goes to the predictor as
            # sent, which answers a malformed list with an error status (Gradio's own check
            # raises, and the client sees an opaque AppError). An instance attribute, as a
            # Component subclass makes Gradio write a .pyi stub beside this file.
            variants.preprocess = _as_sent
    pad.preprocess = _headers_first(pad.preprocess)
    # Placed in the page further down; created here because the cards render from it.
    result = gr.JSON(value=predict(None, DEFAULT), show_label=False, render=False)

    @gr.render(inputs=[result, variants])
    def show(res: dict, selected: list[str]) -> None:
        if res["status"] != "ok":
            gr.Markdown(f"### {res['message']}")
            return
        with gr.Row():
            with gr.Column(scale=1, min_width=180):
                gr.Image(_preview(res), label="What the models see (28x28)",
                         image_mode="L", interactive=False, height=200, width=200,
                         buttons=[])
            with gr.Column(scale=3):
                tops = list(res["top"].values())
                majority = max(set(tops), key=tops.count) if len(set(tops)) > 1 else None
                if majority is not None:
                    gr.Markdown("⚠️ **The variants disagree.**")
                with gr.Row():
                    for name in selected:
                        with gr.Column(elem_classes="card", min_width=170):
                            gr.Markdown(_card_markdown(name, res, majority))
                            if name in res["probabilities"]:
                                gr.Label({str(d): p for d, p in
                                          enumerate(res["probabilities"][name])},
                                         num_top_classes=3, show_label=False)

    with gr.Accordion("The whole zoo", open=False, visible=bool(ENTRIES)):
        points = _zoo_points() if ENTRIES else pd.DataFrame({"accuracy (%)": [100.0]})
        gr.ScatterPlot(points, x="log10 size (KiB)", y="accuracy (%)", color="precision",
                       tooltip=["variant", "family", "size (KiB)", "accuracy (%)"],
                       y_lim=[math.floor(points["accuracy (%)"].min() * 2 - 1) / 2, 100.0],
                       title="MNIST test accuracy vs size on disk (log scale)")
        gr.Dataframe(_zoo_table(), interactive=False, wrap=True)
    with gr.Accordion("The /predict API: raw output for this drawing", open=False):
        gr.Markdown("Scripts get the same from `gradio_client.Client(url).predict(drawing, "
                    "variants, api_name=\"/predict\")`; see the README.")
        result.render()

    pad.change(predict, [pad, variants], result, api_name="predict", trigger_mode="always_last",
               show_progress="hidden", concurrency_limit=4)
    variants.change(predict, [pad, variants], result, api_visibility="private",
                    trigger_mode="always_last", show_progress="hidden")
    demo.load(None, js=SELECT_BRUSH)

if __name__ == "__main__":
    demo.launch(css=CSS)
