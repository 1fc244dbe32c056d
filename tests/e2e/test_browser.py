"""One real-browser session, as a new user would have it: start `streamlit run app.py` on a
free loopback port with an empty cache (no organisms yet), click Quick start, watch the job's
progress move while the organisms train, wait for the job, open the cluster map and the
hypotheses page, and see a validated hypothesis; score a text on the token diff page; run the
layer lens as a job and see its charts; play one probe game and read its transcript. A second
session compares two uploaded files of
answers. Screenshots go to tests/artifacts/."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytest.importorskip("playwright")
if not os.path.exists(CHROMIUM):  # .ci/run installs it with apt
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)",
                allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(tmp_path):
    port = _free_port()
    # A cache of its own, empty: the first session builds the (test-size) organisms itself.
    env = dict(os.environ, MODELDIFF_DB=str(tmp_path / "browser.duckdb"),
               MODELDIFF_CACHE=str(tmp_path / "cold-cache"))
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


def _reload_until(page, url: str, shows, what: str, timeout: float = 600, absent=None) -> None:
    """Reload `url` every few seconds until it shows `shows` (a text or a pattern) and, when
    given, no longer shows `absent`: how a test waits for a job, as a user would."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        page.goto(url)
        page.wait_for_timeout(2000)
        if page.get_by_text(shows, exact=isinstance(shows, str) or None).count() and (
                absent is None or not page.get_by_text(absent).count()):
            return
        page.wait_for_timeout(3000)
    pytest.fail(f"{what} did not finish")


def _fill(page, values: dict) -> None:
    """Type into number inputs by label, each confirmed with Enter (a rerun between them)."""
    from playwright.sync_api import expect

    for label, value in values.items():
        box = page.get_by_label(label)
        expect(box).to_be_visible(timeout=60_000)
        box.fill(value)
        box.press("Enter")
        page.wait_for_timeout(1000)


def test_quick_start_to_a_validated_hypothesis(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS[1:], headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        t0 = time.perf_counter()
        page.goto(server)
        expect(page.get_by_role("button", name="Quick start")).to_be_visible(timeout=60_000)
        print(f"Home rendered {time.perf_counter() - t0:.1f} s after the first request")
        # The first page is named Home in the navigation (not after its file).
        nav = page.locator('[data-testid="stSidebarNav"]')
        expect(nav.get_by_text("Home", exact=True)).to_be_visible(timeout=30_000)
        assert nav.get_by_text("app", exact=True).count() == 0
        page.get_by_role("button", name="Quick start").click()
        expect(page.get_by_text(re.compile(r"Started job-"))).to_be_visible(timeout=60_000)
        # Training shows as the job's progress, and the count moves while it trains.
        seen: list[int] = []
        deadline = time.time() + 300
        while time.time() < deadline and len(set(seen)) < 2:
            line = page.get_by_text(re.compile(r"job-\w+ · train \w+ · \d+/\d+"))
            if line.count():
                text = line.first.inner_text()
                seen.append(int(re.search(r"train \w+ · (\d+)/", text).group(1)))
                if len(seen) == 1:
                    page.screenshot(path=str(ARTIFACTS / "home.png"), full_page=True)
            page.wait_for_timeout(700)
        assert len(set(seen)) >= 2, f"no training progress seen: {seen}"
        # Wait for the job: the home page's run table says done once the pipeline finished.
        _reload_until(page, server, "done", "the Quick start job")
        page.goto(server + "/Clusters")
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)
        page.wait_for_timeout(2000)
        page.screenshot(path=str(ARTIFACTS / "clusters.png"), full_page=True)
        page.goto(server + "/Hypotheses")
        expect(page.get_by_text(re.compile("Yardstick"))).to_be_visible(timeout=60_000)
        page.wait_for_timeout(2000)
        # The validated hypotheses are listed as plain text above the (canvas) table.
        expect(page.get_by_text(re.compile(r'VALIDATED\s+h\d+: Model B mentions "cat"'))
               ).to_be_visible(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "hypotheses.png"), full_page=True)
        # The run's two models on one text: a coloured token strip and the tokens B favours.
        page.goto(server + "/Token_diff_and_quantization")
        page.get_by_role("button", name="Score under A and B").click()
        expect(page.get_by_text("B favours most")).to_be_visible(timeout=120_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(ARTIFACTS / "token_diff.png"), full_page=True)
        # The layer lens as a job; its heatmaps and curves once it is done.
        page.goto(server + "/Layers")
        page.get_by_role("button", name="Run layer lens").click()
        expect(page.get_by_text(re.compile(r"Started job-"))).to_be_visible(timeout=60_000)
        _reload_until(page, server + "/Layers", re.compile(r"behaviour vs α"), "the layer lens job")
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)
        page.wait_for_timeout(2000)
        page.screenshot(path=str(ARTIFACTS / "layers.png"), full_page=True)
        # The feature lens as a job (short training, few generations); then another feature's
        # top texts, opened from the feature picker.
        page.goto(server + "/Features")
        _fill(page, {"Training steps per dictionary": "600", "Fresh generations per setting": "4"})
        page.get_by_role("button", name="Run feature lens").click()
        expect(page.get_by_text(re.compile(r"Started job-"))).to_be_visible(timeout=60_000)
        _reload_until(page, server + "/Features", re.compile(r"Top texts of feature \d+"),
                      "the feature lens job")
        first = re.search(r"Top texts of feature (\d+)", page.get_by_text(
            re.compile(r"Top texts of feature \d+")).first.inner_text()).group(1)
        picker = page.get_by_role("combobox", name=re.compile("Feature"))
        options = page.get_by_role("option")
        for attempt in range(6):  # a click while the page still reruns can leave it shut
            picker.click()
            try:
                expect(options.nth(1)).to_be_visible(timeout=5_000)
                break
            except AssertionError:
                if attempt == 5:
                    raise
                page.keyboard.press("Escape")
                page.wait_for_timeout(1500)
        chosen = re.match(r"feature (\d+)", options.nth(1).inner_text()).group(1)
        options.nth(1).click()
        expect(page.get_by_text(f"Top texts of feature {chosen}")).to_be_visible(timeout=60_000)
        assert chosen != first
        expect(page.get_by_text(re.compile(r"model [AB] · max activation")).first
               ).to_be_visible(timeout=30_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(ARTIFACTS / "features.png"), full_page=True)
        # One probe game of three rounds; its transcript, with the truth revealed each round.
        page.goto(server + "/Probe")
        _fill(page, {"Rounds per game": "3", "Games": "1"})
        page.get_by_role("button", name="Play").click()
        expect(page.get_by_text(re.compile(r"Started job-"))).to_be_visible(timeout=60_000)
        # Done when the page no longer says a game is being played.
        _reload_until(page, server + "/Probe", re.compile(r"control \d/3 right"), "the probe game",
                      absent=re.compile(r"Playing now"))
        expect(page.get_by_text(re.compile(r"it was model [AB] · (right|wrong)")).first
               ).to_be_visible(timeout=30_000)
        expect(page.get_by_text(re.compile(r"Game 1: \d of 3 rounds guessed right"))
               ).to_be_visible(timeout=30_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(ARTIFACTS / "probe.png"), full_page=True)
        browser.close()
    shots = ("clusters.png", "hypotheses.png", "token_diff.png", "layers.png", "features.png",
             "probe.png")
    for name in shots:
        assert (ARTIFACTS / name).stat().st_size > 10_000
    if os.environ.get("MODELDIFF_UPDATE_SCREENSHOTS"):
        for name in shots:
            shutil.copy(ARTIFACTS / name, ROOT / "docs" / name)


ALPACA = ROOT.parent / "shared" / "data" / "alpacaeval"


@pytest.mark.skipif(not (ALPACA / "qwen15_7b.jsonl").exists(),
                    reason="the shared AlpacaEval answers are not here")
def test_two_uploaded_files_of_answers_to_a_result(server):
    """Two real models' stored answers, uploaded on the Models page, compared as a job: no
    weights, no organisms; the same run as the README's CLI run of this pair, whose one
    hypothesis shows the generative test as skipped, with its reason."""
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS[1:], headless=True)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(server + "/Models")
        expect(page.get_by_text("file of answers").first).to_be_visible(timeout=60_000)
        for i, name in enumerate(("qwen15_7b.jsonl", "qwen15_72b.jsonl")):
            page.get_by_text("file of answers").nth(i).click()
            uploads = page.locator('input[type="file"]')
            expect(uploads.nth(i)).to_be_attached(timeout=30_000)
            uploads.nth(i).set_input_files(str(ALPACA / name))
            expect(page.get_by_text(name).first).to_be_visible(timeout=30_000)
        page.get_by_role("button", name="Check and use this pair").click()
        expect(page.get_by_text(re.compile(r"805 prompts paired"))).to_be_visible(timeout=60_000)
        # By the navigation, not a new page load: the chosen pair lives in this session.
        page.locator('[data-testid="stSidebarNav"]').get_by_text("Generate", exact=True).click()
        expect(page.get_by_text(re.compile(r"outputs:qwen15_7b\.jsonl"))).to_be_visible(
            timeout=60_000)
        page.get_by_role("button", name="Start").click()
        expect(page.get_by_text(re.compile(r"Started job-"))).to_be_visible(timeout=60_000)
        _reload_until(page, server, "done", "the comparison of the two files")
        page.goto(server + "/Hypotheses")
        expect(page.get_by_text(re.compile("Yardstick"))).to_be_visible(timeout=60_000)
        expect(page.get_by_text(re.compile(r"hypotheses validated"))).to_be_visible(timeout=30_000)
        expect(page.get_by_text(re.compile(r"Generative test skipped: model A: no log-probs"))
               ).to_be_visible(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "outputs_hypotheses.png"), full_page=True)
        browser.close()
    assert (ARTIFACTS / "outputs_hypotheses.png").stat().st_size > 10_000
