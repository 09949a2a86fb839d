"""A real browser draws on the app: headless Chromium, driven by Playwright, like a visitor.

Only a browser shows what the API cannot: that the pad accepts a mouse stroke straight
away and again after its clear button, that a stroke triggers a prediction, what the page
then shows at a desktop's and a phone's size, and how long a visitor waits for it.

Screenshots go to pytest's tmp_path, or to $DIGIT_ZOO_SCREENSHOTS when set (to look at).
"""

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if os.environ.get("DIGIT_ZOO_REQUIRE_BROWSER") and CHROMIUM is None:  # CI: never skip these
    raise RuntimeError("DIGIT_ZOO_REQUIRE_BROWSER is set but chromium is not on PATH")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH "
                                "(Debian: apt-get install chromium)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
SEVEN = [(0.3, 0.25), (0.7, 0.25), (0.45, 0.8)]
ONE = [(0.5, 0.2), (0.52, 0.8)]
PLACEHOLDER = "select the draw tool to start"  # Gradio's, when no drawing tool is selected

# Times, in the page's own clock, from the pen leaving the pad to the headline showing the
# expected digit: what a visitor waits, free of the test's round trips to the browser.
WATCH = """digit => {
  const headline = document.querySelector('#headline');
  window.__lift = null; window.__answer = null;
  // the event's own time: a listener runs after the pad's, which may do work first
  window.addEventListener('pointerup', e => { window.__lift = e.timeStamp; },
                          {capture: true, once: true});
  const seen = () => {
    const d = headline.querySelector('.digit');
    if (window.__answer === null && d && d.textContent.trim() === digit) {
      window.__answer = performance.now();
    }
  };
  new MutationObserver(seen).observe(headline, {subtree: true, childList: true,
                                                characterData: true});
}"""


def shots_dir(tmp_path) -> Path:
    d = Path(os.environ.get("DIGIT_ZOO_SCREENSHOTS") or tmp_path)
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def browser():
    import app

    app.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
               quiet=True)
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b, app.demo.local_url
        b.close()
    app.demo.close()


def open_page(browser, viewport, theme: str | None = None):
    b, url = browser
    page = b.new_page(viewport=viewport)
    page.goto(url + (f"?__theme={theme}" if theme else ""))
    page.locator("#headline").get_by_text("Draw a digit.").wait_for(timeout=30_000)
    expect_brush(page)
    return page


@pytest.fixture
def page(browser):
    pg = open_page(browser, DESKTOP)
    yield pg
    pg.close()


def expect_brush(page) -> None:
    """The brush is selected: Gradio's placeholder is gone and the brush is highlighted."""
    playwright.expect(page.get_by_text(PLACEHOLDER)).to_be_hidden(timeout=10_000)
    brush = page.locator('#pad button[aria-label="Brush"]')
    playwright.expect(brush).to_contain_class("highlight", timeout=10_000)


def stroke(page, points) -> None:
    box = page.locator("#pad canvas").first.bounding_box()
    at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=6)  # each step is a frame in software WebGL
    page.mouse.up()


def draw_and_read(page, points, digit: str) -> float:
    """Draw, wait for the headline to say `digit`; the pen-lift-to-answer time in s."""
    page.evaluate(WATCH, digit)
    stroke(page, points)
    playwright.expect(page.locator("#headline .digit")).to_have_text(digit, timeout=20_000)
    return page.evaluate("() => (window.__answer - window.__lift) / 1000")


def answers(page) -> list[str]:
    return page.locator("#answers td.answer").all_inner_texts()


def report(name: str, seconds: list[float]) -> None:
    print(f"\npen lift to answer ({name}, headless Chromium): "
          + ", ".join(f"{s:.2f} s" for s in seconds))


def test_blank_pad_shows_a_hint_and_the_zoo(page, tmp_path):
    import app

    # the headline's own text (Gradio's hidden progress timer sits beside it in #headline)
    playwright.expect(page.locator("#headline .headline")).to_have_text("Draw a digit.")
    assert len(page.locator("#answers tr").all()) == 1 + len(app.DEFAULT)  # header + rows
    page.get_by_text("The whole zoo").click()
    chart = page.locator(".vega-embed canvas, .vega-embed svg").first  # the altair chart
    playwright.expect(chart).to_be_visible(timeout=10_000)
    assert chart.bounding_box()["width"] > 300
    page.screenshot(path=str(shots_dir(tmp_path) / "zoo-1280x900.png"), full_page=True)
    first = page.get_by_role("gridcell", name=next(iter(app.ENTRIES)), exact=True)  # lazy rows
    playwright.expect(first).to_be_visible(timeout=10_000)


def test_the_zoo_chart_fits_a_phone_and_reads_on_either_theme(browser, tmp_path):
    for theme in ("light", "dark"):
        page = open_page(browser, PHONE, theme)
        page.get_by_text("The whole zoo").click()
        chart = page.locator("#zoo-chart .vega-embed svg")
        playwright.expect(chart).to_be_visible(timeout=10_000)
        page.screenshot(path=str(shots_dir(tmp_path) / f"zoo-390x844-{theme}.png"),
                        full_page=True)
        box, block = chart.bounding_box(), page.locator("#zoo-chart").bounding_box()
        # drawn at the block's width (axes, legend and title inside it), not cut off at it
        assert 250 < box["width"] and box["x"] + box["width"] <= block["x"] + block["width"]
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        background, label = page.evaluate("""() => {
          const svg = document.querySelector('#zoo-chart .vega-embed svg');
          return [getComputedStyle(svg).backgroundColor,
                  getComputedStyle(svg.querySelector('.role-axis-label text')).fill]; }""")
        assert background in ("transparent", "rgba(0, 0, 0, 0)"), background
        channels = [int(c) for c in label[label.index("(") + 1:-1].split(",")[:3]]
        assert (min(channels) > 180) if theme == "dark" else (max(channels) < 100), label
        page.close()


def test_the_zoo_chart_follows_a_window_resized_while_it_was_hidden(page):
    zoo = page.get_by_text("The whole zoo")
    zoo.click()
    chart = page.locator("#zoo-chart .vega-embed svg")
    playwright.expect(chart).to_be_visible(timeout=10_000)
    zoo.click()
    playwright.expect(chart).to_be_hidden()
    page.set_viewport_size(PHONE)  # a tablet turned, a window narrowed
    zoo.click()
    playwright.expect(chart).to_be_visible()
    block = page.locator("#zoo-chart").bounding_box()
    page.wait_for_function("b => { const w = document.querySelector('#zoo-chart .vega-embed "
                           "svg').getBoundingClientRect().width; return w > 250 && w <= b; }",
                           arg=block["width"], timeout=10_000)


def test_a_mouse_drawn_seven_is_read_by_every_default_variant(page, tmp_path):
    import app

    seconds = draw_and_read(page, SEVEN, "7")
    playwright.expect(page.locator("#answers td.answer")).to_have_count(len(app.DEFAULT))
    assert all(a.startswith("7") for a in answers(page)), answers(page)
    assert page.locator("#answers .preview img").is_visible()  # what the models saw
    page.screenshot(path=str(shots_dir(tmp_path) / "seven-1280x900.png"))
    report("one stroke", [seconds])
    # The why is worked out when its accordion opens, then with every stroke while open.
    page.get_by_text("Why this answer?").click()
    playwright.expect(page.locator("#why")).to_contain_text("step by step", timeout=20_000)
    playwright.expect(page.locator("#why")).to_contain_text("mlp-h128-int8: 7")
    page.locator('#pad button[aria-label="Clear canvas"]').click()
    draw_and_read(page, ONE, "1")
    playwright.expect(page.locator("#why")).to_contain_text("mlp-h128-int8: 1")


def test_each_stroke_sends_one_small_request_as_the_pen_lifts(page):
    """The pad itself uploads nothing: the page sends the composite, once per stroke (and
    once for the bin), in one plain request, and its "reading…" sign goes with the answer."""
    sent = []
    page.on("request", lambda r: sent.append(r) if "/gradio_api/" in r.url else None)
    clear = page.locator('#pad button[aria-label="Clear canvas"]')
    steps = [(lambda: draw_and_read(page, SEVEN, "7"), "7"), (clear.click, "Draw a digit."),
             (lambda: draw_and_read(page, ONE, "1"), "1")]
    seconds = []
    for step, shown in steps:
        sent.clear()
        took = step()
        playwright.expect(page.locator("#headline")).to_contain_text(shown, timeout=20_000)
        page.wait_for_timeout(1000)  # the pad's own path sent its uploads well within this
        assert [(r.method, r.url.split("/gradio_api/")[1]) for r in sent] == [
            ("POST", "run/predict")], [r.url for r in sent]
        assert len(sent[0].post_data_buffer) < 20_000  # a 140 px PNG, not three 280 px ones
        playwright.expect(page.locator("#headline")).not_to_contain_class("reading")
        if took is not None:
            seconds.append(took)
    report("one request per stroke", seconds)


def test_clear_and_undo_keep_the_brush_and_the_pad_keeps_answering(page, tmp_path):
    clear = page.locator('#pad button[aria-label="Clear canvas"]')
    zoom = page.locator("#pad .zoom-number")
    playwright.expect(zoom).to_have_text("100%")  # the 280 px canvas at its own size
    seconds = []
    for points, digit in [(SEVEN, "7"), (ONE, "1"), (SEVEN, "7")]:
        seconds.append(draw_and_read(page, points, digit))
        assert all(a.startswith(digit) for a in answers(page)), (digit, answers(page))
        clear.click()
        # The bin empties the pad: the page says so, and the brush is still in hand.
        playwright.expect(page.locator("#headline .headline")).to_have_text("Draw a digit.",
                                                                  timeout=20_000)
        expect_brush(page)
        playwright.expect(zoom).to_have_text("100%")  # as before: the pad does not jump
    seconds.append(draw_and_read(page, ONE, "1"))
    page.locator('#pad button[aria-label="Undo"]').click()
    expect_brush(page)
    playwright.expect(page.locator("#headline .headline")).to_have_text("Draw a digit.",
                                                                  timeout=20_000)
    seconds.append(draw_and_read(page, SEVEN, "7"))  # drawn after the undo: it leaves a mark
    page.screenshot(path=str(shots_dir(tmp_path) / "after-clears-1280x900.png"))
    report("after clear and undo", seconds)


# Drawings a visitor makes, as strokes in the pad's unit square.
NOT_DIGITS = {
    "a letter A": [[(0.3, 0.8), (0.5, 0.2), (0.7, 0.8)], [(0.38, 0.58), (0.62, 0.58)]],
    "a scribble": [[(0.2 + 0.6 * (i % 2), 0.2 + 0.6 * i / 9) for i in range(10)]],
    "the number 17": [[(0.25, 0.3), (0.25, 0.7)], [(0.45, 0.3), (0.75, 0.3), (0.55, 0.7)]],
}
DIGITS = {
    "a small 7 in a corner": ("7", [[(0.16, 0.14), (0.3, 0.14), (0.21, 0.32)]]),
    "a printed 1 (flag and foot)": ("1", [[(0.38, 0.3), (0.52, 0.15), (0.52, 0.85)],
                                          [(0.38, 0.85), (0.66, 0.85)]]),
    "a barred 7": ("7", [[(0.3, 0.2), (0.72, 0.2), (0.45, 0.85)], [(0.42, 0.52), (0.66, 0.52)]]),
}


def draw_strokes(page, strokes) -> None:
    """Each stroke, then the answer to the last one (each stroke sends its own request)."""
    for points in strokes:
        with page.expect_response(lambda r: "/gradio_api/run/predict" in r.url):
            stroke(page, points)
    playwright.expect(page.locator("#headline")).not_to_contain_class("reading",
                                                                    timeout=20_000)


def test_a_letter_a_scribble_and_17_show_no_digit_and_printed_digits_are_read(page, tmp_path):
    """One verdict: a refused drawing shows no digit anywhere; drawings that are one
    digit, small and in a corner or in a printed face, are read."""
    clear = page.locator('#pad button[aria-label="Clear canvas"]')
    for name, strokes in NOT_DIGITS.items():
        draw_strokes(page, strokes)
        playwright.expect(page.locator("#headline")).to_contain_text("does not look like one "
                                                                     "digit", timeout=20_000)
        assert page.locator("#headline .digit").count() == 0, name
        assert set(answers(page)) == {"–"}, (name, answers(page))
        page.screenshot(path=str(shots_dir(tmp_path) / f"{name.replace(' ', '-')}.png"))
        clear.click()
        playwright.expect(page.locator("#headline .headline")).to_have_text("Draw a digit.",
                                                                          timeout=20_000)
    for name, (digit, strokes) in DIGITS.items():
        draw_strokes(page, strokes)
        playwright.expect(page.locator("#headline .digit")).to_have_text(digit, timeout=20_000)
        page.screenshot(path=str(shots_dir(tmp_path) / f"{name.replace(' ', '-')}.png"))
        clear.click()
        playwright.expect(page.locator("#headline .headline")).to_have_text("Draw a digit.",
                                                                          timeout=20_000)


def test_answers_sit_beside_the_pad_on_a_desktop_and_under_it_on_a_phone(browser, tmp_path):
    for viewport in (DESKTOP, PHONE):
        page = open_page(browser, viewport)
        report(f"{viewport['width']}x{viewport['height']}", [draw_and_read(page, SEVEN, "7")])
        pad = page.locator("#pad").bounding_box()
        headline = page.locator("#headline").bounding_box()
        table = page.locator("#answers table").bounding_box()
        name = f"{viewport['width']}x{viewport['height']}"
        page.screenshot(path=str(shots_dir(tmp_path) / f"layout-{name}.png"))
        # The first answer is on screen without scrolling, right under the pad.
        assert 0 <= headline["y"] - (pad["y"] + pad["height"]) < 80, (name, pad, headline)
        assert headline["y"] + headline["height"] <= viewport["height"], (name, headline)
        if viewport is DESKTOP:  # the whole table beside the pad, also on screen
            assert table["x"] >= pad["x"] + pad["width"], (pad, table)
            assert table["y"] + table["height"] <= viewport["height"], table
        else:  # the table under the headline, no wider than the phone
            assert table["y"] >= headline["y"] + headline["height"], (headline, table)
            assert table["x"] + table["width"] <= viewport["width"], table
            # and whole in its box: no column cut off behind a sideways scroll
            assert page.evaluate("[...document.querySelectorAll('#answers .scroll')].every("
                                 "s => s.scrollWidth <= s.clientWidth)")
            # each variant's name whole, on one line
            assert page.evaluate("[...document.querySelectorAll('#answers td:first-child "
                                 "code')].every(c => c.getClientRects().length === 1)")
            # a finger drawing on the pad must not scroll the page instead
            assert page.evaluate("[...document.querySelectorAll('#pad canvas')].every("
                                 "c => getComputedStyle(c).touchAction === 'none')")
            assert page.evaluate("window.scrollY") == 0
        page.close()
