"""The operator page in headless Chromium (Debian's ``chromium``, driven by Playwright): sign in,
filter, play a recording; screenshots are inspected pixel by pixel."""

import io
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from tests.operator.conftest import TOKEN
from tests.support import unavailable

# The page's colours (base.html): what a screenshot of each state must show.
GREEN, RED, BLUE, HEADER = (0x1A, 0x7F, 0x37), (0xCF, 0x22, 0x2E), (0x09, 0x69, 0xDA), (0x24, 0x29, 0x2F)


@pytest.fixture
def served(catalogue):
    """The catalogue's app on a real HTTP port (werkzeug, threaded) for the browser."""
    server = make_server("127.0.0.1", 0, catalogue.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        unavailable("Chromium (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"])
        yield browser
        browser.close()


def colours(png: bytes):
    """How many pixels of each colour a screenshot has."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return image, {colour: count for count, colour in image.getcolors(maxcolors=1 << 20)}


def test_an_operator_signs_in_filters_and_listens(served, catalogue, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{served}/?status=")
    assert page.url.startswith(f"{served}/login")  # not signed in: the login form
    page.fill("input[name=token]", "wrong")
    page.click("button[type=submit]")
    assert "not one of API_TOKENS" in page.inner_text("[role=alert]")
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_selector("table tbody tr[data-recording]")
    assert page.locator("tr[data-recording]").count() == 3

    shot, counts = colours(page.screenshot())
    assert shot.size == (1280, 800)
    assert shot.getpixel((5, 5)) == HEADER  # the page rendered, styles applied
    for colour in (GREEN, RED, BLUE):  # a verified, a failed and a running recording's badges
        assert counts.get(colour, 0) > 200, (colour, sorted(counts.items(), key=lambda c: -c[1])[:8])

    page.select_option("select[name=status]", "failed")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/?status=failed*")
    rows = page.locator("tr[data-recording]")
    assert rows.count() == 1 and rows.first.get_attribute("data-recording") == catalogue.bad.id
    _, table = colours(page.locator("table").screenshot())
    assert table.get(RED, 0) > 200 and table.get(GREEN, 0) == 0 and table.get(BLUE, 0) == 0

    page.goto(f"{served}/calls/op-good")
    assert page.inner_text("[data-consent]") == "accepted" and "agent-7" in page.content()
    page.click("table a >> text=1")
    page.wait_for_selector("audio[src]")
    duration = page.wait_for_function(
        "() => { const a = document.querySelector('audio'); return a.readyState >= 1 && a.duration }",
        timeout=15000).json_value()
    assert 1.9 <= duration <= 2.3  # the browser fetched the presigned link and decoded the audio
    page.close()
