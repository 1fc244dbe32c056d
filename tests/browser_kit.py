"""What the real-browser tests share: Debian's chromium, a dashboard server on a free loopback
port, and waits that poll the page (never fixed sleeps)."""
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STARTED = re.compile(r"Started job-")


def skip_without_chromium():
    pytest.importorskip("playwright")
    if not os.path.exists(CHROMIUM):  # .ci/run installs it with apt
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)",
                    allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dashboard(db: Path):
    """`streamlit run app.py` on `db`, with the test session's (warm) organism cache."""
    port = _free_port()
    env = dict(os.environ, MODELDIFF_DB=str(db))
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--server.headless", "true"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the dashboard did not start")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server we started, by its PID
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def browser_page():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        finally:
            browser.close()


def settled(page, timeout: float = 60_000) -> None:
    """Wait until the script has finished its rerun (Streamlit's running icon is gone)."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stStatusWidgetRunningIcon")).to_have_count(0, timeout=timeout)


def reload_until(page, url: str, shows, what: str, timeout: float = 600, absent=None) -> None:
    """Reload `url` until it shows `shows` (a text or a pattern) and, when given, no longer
    shows `absent`: how a user waits for a job."""
    from playwright.sync_api import expect

    deadline = time.time() + timeout
    while time.time() < deadline:
        page.goto(url)
        try:
            # Counted, not "visible": a table's cells live in a hidden grid (a canvas draws them).
            expect(page.get_by_text(shows, exact=isinstance(shows, str) or None)
                   ).not_to_have_count(0, timeout=5_000)
            if absent is None or not page.get_by_text(absent).count():
                return
        except AssertionError:
            pass
    pytest.fail(f"{what} did not finish")


def fill(page, values: dict) -> None:
    """Type into number inputs by label, each confirmed with Enter and its rerun."""
    from playwright.sync_api import expect

    for label, value in values.items():
        box = page.get_by_label(label)
        expect(box).to_be_visible(timeout=60_000)
        box.fill(value)
        box.press("Enter")
        settled(page)
        expect(box).to_have_value(value)


def click_button(page, name: str) -> None:
    """Click a button once the page shows it once: while a rerun (a job's end, say) moves it,
    the old one stays on screen, faded, beside the new until the run is over."""
    from playwright.sync_api import expect

    from playwright.sync_api import Error

    button = page.get_by_role("button", name=name)
    for _ in range(30):  # a job's end and a widget's change can rerun the page back to back
        settled(page)
        expect(button).to_have_count(1, timeout=60_000)
        try:
            button.click(timeout=5_000)
            return
        except Error:  # the count flickered to two again before the click: wait, try again
            time.sleep(1)
    pytest.fail(f"the button {name!r} never stayed single long enough to be clicked")


def plot_drawn(page) -> None:
    """Wait until the first plotly chart has drawn its axes (before a screenshot)."""
    from playwright.sync_api import expect

    expect(page.locator(".js-plotly-plot .main-svg").first).to_be_visible(timeout=60_000)
    settled(page)


def box_select(page) -> None:
    """Drag a box over most of the first plotly chart (a drag selects a box there), as a hand
    would: the chart's selection then reruns the page."""
    plot = page.locator(".js-plotly-plot").first
    area = plot.locator(".nsewdrag").first.bounding_box()
    x0, y0 = area["x"] + area["width"] * 0.05, area["y"] + area["height"] * 0.05
    x1, y1 = area["x"] + area["width"] * 0.95, area["y"] + area["height"] * 0.95
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
    page.mouse.move(x1, y1, steps=5)
    page.mouse.up()
    settled(page)
