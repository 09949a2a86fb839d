"""A real browser draws on the app: headless Chromium, driven by Playwright, like a visitor.

Only a browser shows what the API cannot: that the pad accepts a mouse stroke straight
away, that a stroke triggers a prediction, and what the page then shows.
"""

import os
import re
import shutil

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


@pytest.fixture(scope="module")
def page():
    import app

    app.demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                    quiet=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1300, "height": 1400})
        pg.goto(app.demo.local_url)
        pg.get_by_role("heading", name="Draw a digit.").wait_for(timeout=30_000)
        # The app selects the brush on load; until then Gradio shows this placeholder and a
        # stroke draws nothing.
        pg.get_by_text("select the draw tool to start").wait_for(state="hidden", timeout=10_000)
        yield pg
        browser.close()
    app.demo.close()


def stroke(page, points):
    box = page.locator("#pad canvas").first.bounding_box()
    at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=15)
    page.mouse.up()


def test_blank_pad_shows_a_hint_and_the_zoo(page):
    assert page.get_by_role("heading", name="Draw a digit.").is_visible()  # the hint
    page.get_by_text("The whole zoo").click()
    page.get_by_text("MNIST test accuracy vs size on disk").wait_for(timeout=10_000)
    first = page.get_by_role("gridcell", name="mlp-h32-float64", exact=True)  # rows are lazy
    playwright.expect(first).to_be_visible(timeout=10_000)


def test_a_mouse_drawn_seven_is_read_by_every_default_variant(page, tmp_path):
    import app

    stroke(page, [(0.3, 0.25), (0.7, 0.25), (0.45, 0.8)])
    answers = page.get_by_text(re.compile(r"says \d in"))
    playwright.expect(answers).to_have_count(len(app.DEFAULT), timeout=20_000)
    page.screenshot(path=str(tmp_path / "seven.png"), full_page=True)
    assert all("says 7 in" in t for t in answers.all_inner_texts()), answers.all_inner_texts()
    assert page.get_by_text("What the models see").is_visible()
