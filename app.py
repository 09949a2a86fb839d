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
# Gradio's queue keeps the last 10,000 events and rebuilds a pandas summary of them after
# every event: CPU per request that grows with the requests served. The summary (only for
# Gradio's monitoring page) is kept over fewer events and rebuilt less often.
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "256")
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "256")

import math
import threading
from typing import Annotated

import altair as alt
import gradio as gr
import numpy as np
import pandas as pd
from gradio.data_classes import GradioRootModel
from pydantic import StringConstraints

from engine.image import DrawingError
from webapp import answers, json_endpoint, why
from webapp.browser import CSS, KEEP_BRUSH, PAD_HEIGHT, STROKE
from webapp.canvas import open_data_url
from webapp.handoffs import in_one_thread, login_check_on_the_loop, no_search_for_matplotlib
from webapp.optional_inputs import optional_inputs
from webapp.pad import sketchpad
from webapp.predictor import Prediction, Predictor
from webapp.turns import TURNS, BusyError
from webapp.uploads import safe_cache_deletion
from webapp.workers import Workers, default_count
from zoo.frontier import chart_points
from zoo.report import family_of, kib, shape_of

if gr.NO_RELOAD:  # one-time set-up: `gradio app.py` reloads the UI, not this
    PREDICTOR = Predictor.from_env()
    # The drawings are read on the other cores (webapp/workers.py); ZOO_WORKERS=0 reads
    # them in this process.
    _n = default_count()
    MODELS = Workers(PREDICTOR, _n) if _n and PREDICTOR.manifest["variants"] else PREDICTOR

ENTRIES = {e["name"]: e for e in PREDICTOR.entries}
ENSEMBLES = PREDICTOR.ensembles  # rows like a variant's: the zoo votes
ROWS = {**ENTRIES, **ENSEMBLES}


def _default_selection() -> list[str]:
    """The most accurate float variant of each family (the best first), the zoo's
    ensembles, plus one MLP width in float64, int8 and int4 to show what precision costs.

    An experimental (sub-byte) ensemble stays one click away rather than in every request:
    it reads each drawing in several views, and the 2-bit vote's 21 passes were more than
    half of the default request's model work, which a public Space pays on every stroke."""
    floats = [e for e in ENTRIES.values() if e["precision"] in ("float32", "float64")]
    best = {}
    for e in sorted(floats, key=lambda e: (-e["test_accuracy"], e["bytes"])):
        best.setdefault(family_of(e), e["name"])
    votes = [n for n, e in ENSEMBLES.items() if not e.get("experimental")]
    names = [*best.values(), *votes,
             *(f"mlp-h128-{p}" for p in ("float64", "int8", "int4"))]
    return list(dict.fromkeys(n for n in names if n in ROWS)) or list(ENTRIES)[:4]


DEFAULT = _default_selection()
# The page sends its 140 px composite, a few KB; 256 KB holds any 140 px RGBA PNG.
MAX_STROKE_CHARS = 256 * 1024


class StrokeData(GradioRootModel):
    """The hidden stroke component's value, checked before Gradio keeps it in the session:
    the page's events take any client's value, not only the page's own."""

    root: Annotated[str, StringConstraints(max_length=MAX_STROKE_CHARS)] | None = None


def predict(drawing, variants: list[str] | str | None = None, with_input: bool = False,
            explain: bool = False) -> dict:
    """Each selected variant's 10 probabilities for a drawing.

    `drawing` is anything the app accepts: the Sketchpad's {"background", "layers",
    "composite"} dict, an image array (greyscale, RGB or RGBA; black on white or white on
    black; any size), or None. `variants` is a list of names (each counted once), one name,
    or empty for the default selection. Returns {"status", "message", "probabilities":
    {variant: [p0..p9]}, "calibrated": {variant: [p0..p9]}, "not_a_digit", "top", "ms",
    "errors"}, plus "input" (the 28x28 image the models saw) when `with_input` is true and
    "saliency" ({variant: 28x28 input-times-gradient map}) when `explain` is true. A drawing
    judged not one digit answers none: "probabilities", "calibrated" and "top" are empty and
    what the variants would have read is under "if_a_digit". Over the API the drawing may
    also be a plain image file, and only the drawing is required.
    """
    return _predict(drawing, variants, bool(explain)).to_json(with_input=bool(with_input))


def _predict(drawing, variants, explain: bool = False) -> Prediction:
    if isinstance(drawing, dict) and drawing.get("error"):  # refused by the pad, undecoded
        return Prediction("error", f"Cannot read that image: {drawing['error']}",
                          np.zeros((28, 28)))
    return MODELS.predict(drawing, variants or DEFAULT, explain=explain)


def show(drawing, variants: list[str] | None, explain: bool = True) -> tuple:
    """The page's answer to a stroke: the headline under the pad, the table beside it, and,
    with `explain`, why (the preprocessing steps and each variant's saliency map); without,
    the why stays as it was (gr.skip())."""
    # Each name once, at most the zoo's worth: the table has a row per name, and the page's
    # events take any client's list.
    names = [variants] if isinstance(variants, str) else variants or []
    selected = list(dict.fromkeys(n for n in names if isinstance(n, str)))[:len(ROWS)]
    if not selected:  # nothing to run
        result = Prediction("none", "Pick a variant to compare.", np.zeros((28, 28)))
    else:
        result = _predict(drawing, selected, explain=explain)
    return (answers.headline(result, selected), answers.table(result, selected, ROWS),
            _why(result) if explain else gr.skip())


async def show_stroke(data_url: str | None, variants: list[str] | None,
                      why_open: bool = True) -> tuple:
    """`show` for the page's own stroke path (the pad's composite as a PNG data URL), in one
    of the turns it shares with the JSON endpoint: it runs outside Gradio's queue. The why
    is worked out only while its accordion is open (a third of the work, 30 KB of pictures
    each stroke); opening it works it out for the drawing on the pad."""
    try:
        return await TURNS.run(_show_stroke, data_url, variants, bool(why_open))
    except BusyError:
        busy = Prediction("error", "The server is busy; draw again in a moment.",
                          np.zeros((28, 28)))
        return answers.headline(busy, []), gr.skip(), gr.skip()


def _show_stroke(data_url: str | None, variants: list[str] | None, explain: bool) -> tuple:
    if not data_url:
        return show(None, variants, explain)
    try:
        drawing = open_data_url(data_url, max_chars=MAX_STROKE_CHARS)
    except DrawingError as e:
        drawing = {"error": str(e)}
    return show(drawing, variants, explain)


async def open_why(data_url: str | None, variants: list[str] | None) -> tuple:
    """The why accordion opened: remember it, and explain the drawing on the pad."""
    return True, *await show_stroke(data_url, variants, True)


def _why(result: Prediction) -> str:
    if not result.stages:
        return "<p>Draw a digit to see how it was read.</p>"
    if result.status == "not_a_digit":  # no variant's answer to explain
        return ("<p>The drawing, step by step, as the models would have seen it:</p>"
                + why.stage_strip(result.stages)
                + "<p>The not-a-digit check refused it, so no variant's reading is "
                  "explained.</p>")
    tops = {n: int(np.argmax(p)) for n, p in result.probabilities.items()}
    maps = {n: m for n, m in result.saliency.items() if n in tops}
    return ("<p>The drawing, step by step, as the models came to see it:</p>"
            + why.stage_strip(result.stages)
            + "<p>Each variant's reason for its answer (input × gradient): <span "
              "style='color:#d33'>red</span> ink pushed the answer up, <span "
              "style='color:#36c'>blue</span> pushed it down.</p>"
            + why.saliency_maps(result.image, maps, tops))


def _choice_label(e: dict) -> str:
    flag = " · experimental" if e.get("experimental") else ""
    votes = f" · the zoo votes ({answers.voters(e)})" if "members" in e else ""
    return (f"{e['name']} · {100 * e['test_accuracy']:.2f}% · {kib(e['bytes'], 1)} KiB"
            f"{votes}{flag}")


def _choice_label_pairs() -> list[tuple[str, str]]:
    """The dropdown's (label, name) pairs: the ensembles first, then every variant."""
    return [(_choice_label(e), n) for n, e in {**ENSEMBLES, **ENTRIES}.items()]


def _zoo_table() -> pd.DataFrame:
    return pd.DataFrame([{
        "variant": e["name"], "family": family_of(e), "shape": shape_of(e),
        "precision": e["precision"], "parameters": e["params"],
        "size (KiB)": round(e["bytes"] / 1024, 1),
        "test accuracy (%)": round(100 * e["test_accuracy"], 2),
        "Δ to parent (pts)": e.get("delta_to_parent", 0.0) if e["parent"] else 0.0,
    } for e in ENTRIES.values()])


def frontier_chart(entries: list[dict]) -> alt.LayerChart:
    """MNIST test accuracy against every byte shipped, on a log scale: the zoo, its
    front (no variant both smaller and more accurate), and published points, labelled."""
    points = pd.DataFrame(chart_points(entries))
    low = math.floor(min(points["accuracy (%)"].min(), 100) - 0.5)
    base = alt.Chart(points).encode(
        x=alt.X("KiB:Q", scale=alt.Scale(type="log"), title="size shipped (KiB, log scale)"),
        y=alt.Y("accuracy (%):Q", scale=alt.Scale(domain=[low, 100]),
                title="MNIST test accuracy (%)"),
        tooltip=["name", alt.Tooltip("KiB:Q", format=",.1f"), "accuracy (%)", "kind"])
    front = base.transform_filter("datum.frontier").mark_line(color="#999", strokeDash=[4, 3])
    dots = base.mark_point(filled=True, size=60).encode(
        color=alt.Color("kind:N", title=None), shape=alt.Shape("kind:N", title=None))
    # The chart takes its container's width (a phone's too), and is drawn as SVG so that
    # the page's CSS gives its text and lines the theme's colours (Gradio styles only its
    # own plots); its background is the page's.
    return (front + dots).properties(
        width="container", height=300,
        title=alt.Title("Accuracy per byte", subtitle="the zoo (dashed: its front) and "
                        "published points", anchor="start"),
        usermeta={"embedOptions": {"renderer": "svg", "actions": False}},
    ).configure(background="transparent", autosize={"type": "fit-x", "contains": "padding"}
    ).configure_view(stroke=None
    ).configure_legend(orient="bottom", columns={"expr": "width < 480 ? 2 : 4"})


API_EXAMPLE = """Scripts get the same answers from the endpoint `/predict`:

```python
from gradio_client import Client, handle_file

client = Client(URL)
drawing = handle_file("seven.png")  # or the pad's {"background", "layers", "composite"}
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
# max_body_size: no request body past 9 MB (an 8 MB upload and its multipart wrapping),
# checked by FastAPI before any route reads it.
LAUNCH = {"css": CSS, "max_file_size": "8mb", "state_session_capacity": SESSIONS,
          "run_history": False, "footer_links": ["api", "gradio", "settings"],
          "app_kwargs": {"max_body_size": 9 * 2**20}}

with gr.Blocks(title="digit-zoo", delete_cache=(60, 60)) as demo:
    gr.Markdown(
        "# digit-zoo\n"
        "Draw a digit. Multi-layer perceptrons and convolutional networks written from "
        "scratch in NumPy, stored in float64, float32, int8 and (experimental) int4 and "
        "2-bit ternary weights, answer side by side, with calibrated confidence, and the "
        "zoo votes; a drawing that is not one digit is told so. "
        f"Models: {PREDICTOR.source}.")
    if PREDICTOR.notice:
        gr.Markdown(f"⚠️ {PREDICTOR.notice}")
    first_headline, first_table, first_why = show(None, DEFAULT)
    with gr.Row():
        with gr.Column(scale=0, min_width=372):
            pad = sketchpad(
                type="numpy", image_mode="L", canvas_size=(280, 280), fixed_canvas=True,
                layers=False, label="Draw one digit", elem_id="pad", height=PAD_HEIGHT,
                brush=gr.Brush(default_size=12, colors=["#000000"], color_mode="fixed"))
            headline = gr.HTML(first_headline, elem_id="headline")
        with gr.Column(scale=1, min_width=300):
            table = gr.HTML(first_table, elem_id="answers")
            # A dropdown of names: compact on a phone whatever the zoo's size.
            variants = gr.Dropdown(
                choices=_choice_label_pairs(),
                value=DEFAULT, multiselect=True, label="Variants to compare",
                elem_id="variants")
    with gr.Accordion("Why this answer?", open=False) as why_box:
        reasons = gr.HTML(first_why, elem_id="why")
    why_open = gr.State(False)

    with gr.Accordion("The whole zoo", open=False, visible=bool(ENTRIES)) as whole_zoo:
        gr.Plot(frontier_chart(list(ROWS.values())), show_label=False, elem_id="zoo-chart")
        gr.Dataframe(_zoo_table(), interactive=False, wrap=True)
    with gr.Accordion("The /predict API", open=False):
        gr.Markdown(API_EXAMPLE + "See docs/app.md for the answer's fields.")

    # The page: one plain request per stroke, outside the queue: a queued event costs a join,
    # a stream of server-sent events and their round trips (pen lift to answer in headless
    # Chromium, median of 8: 257 ms queued, 163 ms not). webapp.turns bounds the work at
    # once instead. Not part of the API.
    stroke = gr.HTML("", html_template="", js_on_load=STROKE, visible="hidden",
                     elem_id="stroke")
    stroke.data_model = StrokeData
    stroke.preprocess = lambda value: getattr(value, "root", value)  # the str it checked
    page = {"fn": show_stroke, "inputs": [stroke, variants, why_open],
            "outputs": [headline, table, reasons], "trigger_mode": "always_last",
            "show_progress": "hidden", "api_visibility": "private", "queue": False}
    # The "reading…" sign goes when the answer is on the page, in the browser: no request.
    done = "() => document.querySelector('#headline')?.classList.remove('reading')"
    stroke.change(**page).then(None, js=done, show_progress="hidden")
    variants.change(**page).then(None, js=done, show_progress="hidden")
    why_box.expand(**{**page, "fn": open_why, "inputs": [stroke, variants],
                      "outputs": [why_open, headline, table, reasons]})
    why_box.collapse(lambda: False, None, why_open, queue=False, api_visibility="private")
    pad.clear(None, js=KEEP_BRUSH)  # in the browser only: no request
    # Vega measures a container-wide chart on window resizes only, and a hidden one is 0 px
    # wide: a resize while the accordion was closed would leave it so when it opens.
    whole_zoo.expand(None, js="() => { requestAnimationFrame(() => "
                              "window.dispatchEvent(new Event('resize'))); }")
    demo.load(None, js=KEEP_BRUSH)

    # The API: no trigger on the page. Variant lists arrive as plain JSON, so that any
    # value (a string, None, nested junk) reaches the app's own check and gets an answer.
    gr.on([], predict, [pad, gr.JSON(None, visible=False, label="variants"),
                        gr.Checkbox(False, visible=False, label="with_input"),
                        gr.Checkbox(False, visible=False, label="explain")],
          gr.JSON(visible=False, label="result"), api_name="predict",
          concurrency_id="api", concurrency_limit=2)
    optional_inputs(demo, "predict", required=1)  # like predict's own defaults
    in_one_thread(demo, "predict")

# status_update_rate: by default every finished job sends every waiting client its new place
# in the line (50 clients: 50 messages per answer); every 10 s is enough for a page that
# shows no place in line (bench/load.py, 50 clients: 39.9 -> 54.2 answers/s).
demo.queue(max_size=QUEUE_SIZE, status_update_rate=10)
safe_cache_deletion(demo)


def launch(**kwargs):
    """demo.launch with the app's limits and style, the JSON endpoint POST /api/predict
    (webapp/json_endpoint.py) on its server, and Gradio's login check on its event loop
    with less work around every request (webapp/handoffs.py); keyword arguments override
    them."""
    block = not kwargs.pop("prevent_thread_lock", False)
    launched = demo.launch(**{**LAUNCH, **kwargs, "prevent_thread_lock": True})
    # Gradio makes its FastAPI app in launch(): the route joins it there, before launch
    # returns (so `gradio app.py`, which launches the demo itself, serves no /api/predict).
    json_endpoint.mount(demo.app, _predict)
    login_check_on_the_loop(demo.app)
    no_search_for_matplotlib()
    if isinstance(MODELS, Workers):  # ready before the first drawing, not during it
        threading.Thread(target=MODELS.warm, daemon=True, name="digit-zoo workers").start()
    if block:
        demo.block_thread()
    return launched


if __name__ == "__main__":
    launch()
