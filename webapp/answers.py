"""How the app shows one prediction: a headline and a compact table, as HTML.

Two fixed pieces of HTML that one event replaces, rather than components rendered per
variant: one queue job per stroke, and a page whose size does not grow with the selection.
Everything that comes from a manifest or an error (names, reasons) is escaped, because a
Hub manifest is untrusted. The 28x28 preview is an inline PNG (a few hundred bytes), so
nothing is written to Gradio's cache for it.
"""

from __future__ import annotations

import base64
import math
from collections import Counter
from html import escape

import cv2
import numpy as np

from webapp.predictor import Prediction

PREVIEW_PX = 112  # 4x MNIST's 28, drawn with hard pixel edges


def _top(p: Prediction, name: str) -> tuple[int, float]:
    """The answer and how sure the variant is: its calibrated probability when the zoo
    has a temperature for it (engine/calibration.py), else the raw softmax."""
    probs = p.calibrated.get(name) or p.probabilities[name]
    digit = int(np.argmax(probs))
    return digit, float(probs[digit])


def _pct(conf: float) -> str:
    """Rounded down and at most 99.9%: a softmax that saturates to 1.0 is not a certainty."""
    return f"{min(math.floor(conf * 1000), 999) / 10:.1f}%"


def majority(p: Prediction) -> int | None:
    """The answer most variants give, or None when they all agree (nothing to flag)."""
    tops = Counter(_top(p, n)[0] for n in p.probabilities)
    return tops.most_common(1)[0][0] if len(tops) > 1 else None


def headline(p: Prediction, selected: list[str]) -> str:
    """The first selected variant's answer, big, right under the pad; or the hint."""
    if p.status != "ok":
        mark = "⚠️ " if p.status == "error" else ""
        why = (f" (the not-a-digit check: {_pct(p.not_a_digit)} not one digit)"
               if p.status == "not_a_digit" and p.not_a_digit is not None else "")
        return f'<div class="headline hint">{mark}{escape(p.message)}{why}</div>'
    first = next((n for n in selected if n in p.probabilities), None)
    if first is None:
        return '<div class="headline hint">⚠️ No selected variant could answer.</div>'
    digit, conf = _top(p, first)
    others = sum(_top(p, n)[0] != digit for n in p.probabilities)
    note = (f'<div class="disagree">⚠️ {others} of {len(p.probabilities)} variants say '
            f'otherwise</div>' if others else "")
    return (f'<div class="headline"><span class="digit">{digit}</span>'
            f'<span class="who">{_pct(conf)} sure<br><code>{escape(first)}</code></span></div>'
            f'{note}')


def preview(image: np.ndarray) -> str:
    """The 28x28 input as an <img> with an inline PNG."""
    img = (np.clip(np.asarray(image, np.float32), 0, 1) * 255).astype(np.uint8)
    ok, png = cv2.imencode(".png", img)
    data = base64.b64encode(png.tobytes()).decode() if ok else ""
    return (f'<figure class="preview"><img alt="the 28x28 image the models see" '
            f'width="{PREVIEW_PX}" height="{PREVIEW_PX}" src="data:image/png;base64,{data}">'
            f'<figcaption>what the models see</figcaption></figure>')


def voters(ensemble: dict) -> str:
    """How many vote in an ensemble (its manifest entry): "3", or "2 × 7 views"."""
    views = ensemble.get("views") or []
    return f"{len(ensemble['members'])}" + (f" × {len(views)} views" if len(views) > 1 else "")


def _row(p: Prediction, name: str, entry: dict | None, flag: int | None) -> str:
    label = f"<code>{escape(name)}</code>"
    if entry and isinstance(entry.get("members"), list):  # an ensemble's row
        views = entry.get("views") or []
        title = " + ".join(entry["members"]) + (f", each reading: {', '.join(views)}"
                                                if len(views) > 1 else "")
        label += (f' <span class="tag" title="{escape(title)}">the zoo votes: '
                  f'{voters(entry)}</span>')
    if entry and entry.get("experimental"):
        label += ' <span class="tag">experimental</span>'
    size = f"{entry['bytes'] / 1024:,.1f} KiB" if entry else ""
    acc = f"{100 * entry['test_accuracy']:.2f}%" if entry else ""
    drawn = f"{100 * entry['drawn_accuracy']:.1f}%" \
        if entry and "drawn_accuracy" in entry else ""  # zoo.drawings; older entries have none
    facts = f"<td>{size}</td><td>{acc}</td><td>{drawn}</td>"
    if name in p.errors:
        return (f'<tr class="error"><td>{label}</td><td colspan="3">⚠️ could not load: '
                f'{escape(p.errors[name])}</td>{facts}</tr>')
    if name not in p.probabilities:  # nothing to show yet: a hint instead of answers
        return (f'<tr><td>{label}</td><td class="answer">·</td><td></td><td></td>'
                f'{facts}</tr>')
    if p.status == "not_a_digit":  # one verdict: no row reads a refused drawing as a digit
        return (f'<tr class="refused"><td>{label}</td><td class="answer">–</td>'
                f'<td>not a digit</td><td>{p.ms[name]:.2f}</td>{facts}</tr>')
    digit, conf = _top(p, name)
    odd = flag is not None and digit != flag
    answer = f"{digit} ⚠️" if odd else str(digit)
    return (f'<tr{" class=disagree" if odd else ""}><td>{label}</td>'
            f'<td class="answer">{answer}</td><td>{_pct(conf)}</td>'
            f'<td>{p.ms[name]:.2f}</td>{facts}</tr>')


def table(p: Prediction, selected: list[str], entries: dict[str, dict]) -> str:
    """One row per selected variant or ensemble: answer, confidence, ms, size, MNIST test
    and drawn-digit accuracy (an ensemble's size is its members' together, its ms theirs
    summed)."""
    flag = majority(p) if p.status == "ok" else None
    rows = "".join(_row(p, n, entries.get(n), flag) for n in selected)
    head = ("<tr><th>variant</th><th>says</th><th>sure</th><th>ms</th><th>size</th>"
            "<th>MNIST test</th><th title=\"1,800 pen-stroke digits, each in a face or style "
            "no variant trained on\">drawn</th></tr>")
    body = (f'<div class="answers"><div class="scroll"><table>{head}{rows}</table></div>'
            f'{preview(p.image) if p.status == "ok" else ""}</div>')
    if flag is not None:
        body = '<p class="disagree">⚠️ The variants disagree.</p>' + body
    if p.status == "not_a_digit" and p.probabilities:
        readings = len({_top(p, n)[0] for n in p.probabilities})
        split = (f"; read as digits, the variants would not even agree ({readings} different "
                 "readings)" if readings > 1 else "")
        body = (f'<p class="refused-note">Not read as a digit: the not-a-digit check refused this '
                f'drawing, so no variant\'s reading is shown{split}.</p>' + body)
    if p.unchecked:
        body = f'<p class="unchecked">⚠️ {escape(p.unchecked)}</p>' + body
    return body
