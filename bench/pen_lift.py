"""Pen lift to answer: how long a visitor waits, in headless Chromium, desktop and phone.

Starts the app on 127.0.0.1 and draws with the mouse like the browser test does, --strokes
times per viewport (a 7 and a 1 in turn, the bin between them), timing in the page's own
clock from the pointer leaving the pad to the headline showing the digit. Prints the median
(min-max) per viewport, the phone's ratio to the desktop, and the requests each stroke sent.
Needs Chromium (Debian: apt-get install chromium) and Playwright (requirements-dev.txt).

    python bench/pen_lift.py [--strokes 20]

Its table is the `bench:pen-lift` block of docs/benchmarks.md; `--doc docs/benchmarks.md`
rewrites it there.
"""

from __future__ import annotations

import os
import statistics
import sys

from _common import ROOT, emit, parser, table

sys.path.insert(0, str(ROOT))  # app.py and the browser test's drawing helpers
os.chdir(ROOT)
from playwright.sync_api import sync_playwright  # noqa: E402

from tests.conftest import free_port  # noqa: E402
from tests.test_browser import (  # noqa: E402
    ARGS,
    CHROMIUM,
    DESKTOP,
    ONE,
    PHONE,
    SEVEN,
    draw_and_read,
    open_page,
)


def timings(browser, url: str, viewport: dict, strokes: int) -> tuple[list[float], list[int]]:
    page = open_page((browser, url), viewport)
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/gradio_api/" in r.url else None)
    clear = page.locator('#pad button[aria-label="Clear canvas"]')
    seconds, requests = [], []
    for i in range(strokes):
        points, digit = (SEVEN, "7") if i % 2 == 0 else (ONE, "1")
        sent.clear()
        seconds.append(draw_and_read(page, points, digit))
        page.wait_for_timeout(300)  # any late request of this stroke's is counted with it
        requests.append(len(sent))
        clear.click()
        page.locator("#headline").get_by_text("Draw a digit.").wait_for(timeout=20_000)
    page.close()
    return seconds, requests


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--strokes", type=int, default=20, help="per viewport")
    args = p.parse_args()
    import app

    app.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
               quiet=True)
    rows, medians = [], {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
                seconds, requests = timings(browser, app.demo.local_url, viewport,
                                            args.strokes)
                ms = [1000 * s for s in seconds]
                medians[name] = statistics.median(ms)
                rows.append([f"{name} ({viewport['width']}x{viewport['height']})",
                             len(ms), f"{medians[name]:.0f} ({min(ms):.0f}-{max(ms):.0f})",
                             f"{min(requests)}-{max(requests)}"])
            browser.close()
    finally:
        app.demo.close()
    text = table(["viewport", "strokes", "pen lift to answer, ms: median (min-max)",
                  "requests per stroke"], rows)
    text += (f"\n\nPhone / desktop: {medians['phone'] / medians['desktop']:.2f}x. Headless "
             "Chromium (software WebGL) and the server on one machine.")
    emit("pen-lift", text, args.doc)


if __name__ == "__main__":
    main()
