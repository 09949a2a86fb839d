"""digit-zoo's app: draw a digit, and see several variants of the zoo classify it side by side.

    python app.py            # or: gradio app.py (reloads on edits)

Models come from the shipped models/ unless ZOO_REPO (and optionally ZOO_REVISION) name a
Hub repo. The prediction is `predict(drawing, variants)`, also served as the API endpoint
/predict for gradio_client. `launch()` starts it with its limits (bounded queue, uploads
deleted, sessions capped); tests and benchmarks use it too.
"""

from __future__ import annotations

import os

# One request's matrices are tiny: BLAS threads would only spin, fighting over the cores
# that concurrent requests need (bench/load.py: 43 -> 16 ms of server CPU per request).
# Read once, when NumPy loads, so before anything imports it.
for _threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

import math

import gradio as gr
import numpy as np
import pandas as pd

from zoo import answers
from zoo.pad import sketchpad
from zoo.predictor import Prediction, Predictor
from zoo.report import family_of, shape_of
from zoo.uploads import safe_cache_deletion

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


def predict(drawing, variants: list[str] | str | None = None, with_input: bool = False) -> dict:
    """Each selected variant's 10 probabilities for a drawing.

    `drawing` is anything the app accepts: the Sketchpad's {"background", "layers",
    "composite"} dict, an image array (greyscale, RGB or RGBA; black on white or white on
    black; any size), or None. `variants` is a list of names (each counted once), one name,
    or empty for the default selection. Returns {"status", "message", "probabilities":
    {variant: [p0..p9]}, "top", "ms", "errors"}, plus "input" (the 28x28 image the models
    saw) when `with_input` is true.
    """
    return _predict(drawing, variants).to_json(with_input=bool(with_input))


def _predict(drawing, variants) -> Prediction:
    if isinstance(drawing, dict) and drawing.get("error"):  # refused by the pad, undecoded
        return Prediction("error", f"Cannot read that image: {drawing['error']}",
                          np.zeros((28, 28)))
    return PREDICTOR.predict(drawing, variants or DEFAULT)


def show(drawing, variants: list[str] | None) -> tuple[str, str]:
    """The page's answer to a stroke: the headline under the pad and the table beside it."""
    selected = list(variants or [])
    if not selected:  # nothing to run
        result = Prediction("none", "Pick a variant to compare.", np.zeros((28, 28)))
    else:
        result = _predict(drawing, selected)
    return answers.headline(result, selected), answers.table(result, selected, ENTRIES)


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


# Gradio 6.31's Sketchpad opens, and reopens after its clear (bin) button, with no drawing
# tool ("select the draw tool to start"): strokes then leave no mark. This selects the
# brush whenever neither the brush nor the eraser is selected, until it stays selected
# (the editor may reset the tool once more while it mounts). The tools are found by their
# place in the toolbar as well as by name, since the names are translated.
KEEP_BRUSH = """() => {
  let tries = 0, steady = 0;
  const pick = () => {
    const pad = document.querySelector('#pad');
    const tools = pad ? [...pad.querySelectorAll('.toolbar-wrap .half-container button')] : [];
    const brush = pad && (pad.querySelector('button[aria-label="Brush"]') || tools[0]);
    if (brush) {
      if (!tools.concat(brush).some(b => b.classList.contains('highlight'))) {
        brush.click();
        steady = 0;
      } else if (++steady >= 3) {
        return;
      }
    }
    if (++tries < 200) setTimeout(pick, 50);
  };
  pick();
}"""

# Chromium encodes canvas.toBlob in idle time, and the Sketchpad's renderer keeps drawing
# frames for half a second after the pen lifts, so the PNG of a stroke waited for that
# loop to stop before it could be sent (most of the pen-lift-to-answer time in headless
# Chromium). Small canvases (the pad's 280x280) are encoded at once instead.
FAST_TO_BLOB = """() => {
  const proto = HTMLCanvasElement.prototype, slow = proto.toBlob;
  if (proto.toBlob.fast) return;
  proto.toBlob = function (callback, type, quality) {
    if (this.width * this.height > 1024 * 1024) return slow.call(this, callback, type, quality);
    let blob = null;
    try {
      const url = this.toDataURL(type, quality), bytes = atob(url.slice(url.indexOf(',') + 1));
      const data = new Uint8Array(bytes.length);
      for (let i = 0; i < bytes.length; i++) data[i] = bytes.charCodeAt(i);
      blob = new Blob([data], {type: url.slice(5, url.indexOf(';'))});
    } catch (e) {
      return slow.call(this, callback, type, quality);
    }
    queueMicrotask(() => callback(blob));
  };
  proto.toBlob.fast = true;
}"""

CSS = """
#pad {max-width: 372px}
.headline {display: flex; align-items: center; gap: .75rem; min-height: 3.5rem}
.headline .digit {font-size: 3.25rem; font-weight: 700; line-height: 1}
.headline.hint {font-size: 1.15rem; font-weight: 600}
.answers {display: flex; flex-wrap: wrap; gap: .5rem 1.25rem; align-items: flex-start}
.answers .scroll {overflow-x: auto; max-width: 100%}
.answers table {border-collapse: collapse; font-size: .875rem; margin: 0}
.answers th, .answers td {padding: .15rem .5rem; text-align: right; white-space: nowrap;
  border-bottom: 1px solid var(--border-color-primary)}
.answers th:first-child, .answers td:first-child {text-align: left}
.answers td.answer {font-weight: 700; font-size: 1rem}
.answers tr.disagree td, .answers tr.error td, .disagree {color: var(--error-text-color)}
.answers .tag {font-size: .75rem; opacity: .7}
.preview {margin: 0; text-align: center; font-size: .75rem}
.preview img {image-rendering: pixelated; border: 1px solid var(--border-color-primary)}
@media (max-width: 520px) {  /* a phone: variant, answer, confidence, accuracy */
  .answers table {font-size: .8rem}
  .answers th, .answers td {padding: .15rem .3rem}
  .answers td:first-child {white-space: normal}
  .answers th:nth-child(4), .answers td:nth-child(4),
  .answers th:nth-child(5), .answers td:nth-child(5) {display: none}
}
"""

API_EXAMPLE = """Scripts get the same answers from the endpoint `/predict`:

```python
from gradio_client import Client, handle_file

client = Client(URL)
drawing = {"background": None, "layers": [], "composite": handle_file("seven.png"), "id": None}
print(client.predict(drawing, ["mlp-h128-int8"], api_name="/predict")["top"])
```
"""

# What a busy or hostile moment may hold on the server. The queue answers "full" past
# QUEUE_SIZE waiting requests instead of letting waits grow. A Gradio session is only
# bookkeeping here (the app keeps no state; Gradio copies every component's settings into
# each, about 45 KB), so past SESSIONS the oldest is dropped, to be made again if its page
# comes back. Uploads are deleted a minute or two after they arrive.
QUEUE_SIZE = int(os.environ.get("ZOO_QUEUE_SIZE", "64"))
SESSIONS = 64
LAUNCH = {"css": CSS, "max_file_size": "8mb", "state_session_capacity": SESSIONS,
          "run_history": False, "footer_links": ["api", "gradio", "settings"]}

with gr.Blocks(title="digit-zoo", delete_cache=(60, 60)) as demo:
    gr.Markdown(
        "# digit-zoo\n"
        "Draw a digit. Multi-layer perceptrons and convolutional networks written from "
        "scratch in NumPy, stored in float64, float32, int8 and (experimental) int4, answer "
        "side by side. "
        f"Models: {PREDICTOR.source}.")
    if PREDICTOR.notice:
        gr.Markdown(f"⚠️ {PREDICTOR.notice}")
    first_headline, first_table = show(None, DEFAULT)
    with gr.Row():
        with gr.Column(scale=0, min_width=372):
            pad = sketchpad(
                type="numpy", image_mode="L", canvas_size=(280, 280), fixed_canvas=True,
                layers=False, label="Draw one digit", elem_id="pad", height=380,
                brush=gr.Brush(default_size=12, colors=["#000000"], color_mode="fixed"))
            headline = gr.HTML(first_headline, elem_id="headline")
        with gr.Column(scale=1, min_width=300):
            table = gr.HTML(first_table, elem_id="answers")
            variants = gr.CheckboxGroup(
                choices=[(_choice_label(e), n) for n, e in ENTRIES.items()],
                value=DEFAULT, label="Variants to compare")

    with gr.Accordion("The whole zoo", open=False, visible=bool(ENTRIES)):
        points = _zoo_points() if ENTRIES else pd.DataFrame({"accuracy (%)": [100.0]})
        gr.ScatterPlot(points, x="log10 size (KiB)", y="accuracy (%)", color="precision",
                       tooltip=["variant", "family", "size (KiB)", "accuracy (%)"],
                       y_lim=[math.floor(points["accuracy (%)"].min() * 2 - 1) / 2, 100.0],
                       title="MNIST test accuracy vs size on disk (log scale)")
        gr.Dataframe(_zoo_table(), interactive=False, wrap=True)
    with gr.Accordion("The /predict API", open=False):
        gr.Markdown(API_EXAMPLE + "See the README for the answer's fields.")

    # The page: one job per stroke, answered in its own concurrency group so that API
    # traffic waits in its own line. Not part of the API.
    page = {"fn": show, "inputs": [pad, variants], "outputs": [headline, table],
            "trigger_mode": "always_last", "show_progress": "hidden",
            "api_visibility": "private", "concurrency_id": "page", "concurrency_limit": 2}
    pad.change(**page)
    variants.change(**page)
    pad.clear(None, js=KEEP_BRUSH)  # in the browser only: no request
    demo.load(None, js=f"() => {{ ({FAST_TO_BLOB})(); ({KEEP_BRUSH})(); }}")

    # The API: no trigger on the page. Variant lists arrive as plain JSON, so that any
    # value (a string, None, nested junk) reaches the app's own check and gets an answer.
    gr.on([], predict, [pad, gr.JSON(None, visible=False, label="variants"),
                        gr.Checkbox(False, visible=False, label="with_input")],
          gr.JSON(visible=False, label="result"), api_name="predict",
          concurrency_id="api", concurrency_limit=2)

demo.queue(max_size=QUEUE_SIZE)
safe_cache_deletion(demo)


def launch(**kwargs):
    """demo.launch with the app's limits and style; keyword arguments override them."""
    return demo.launch(**{**LAUNCH, **kwargs})


if __name__ == "__main__":
    launch()
