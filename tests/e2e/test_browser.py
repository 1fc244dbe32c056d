"""One real-browser session on the built-in demo, as a researcher would have it once the
organisms are built (the cold start — organisms trained as a stage with progress — is checked
by test_first_session): `streamlit run app.py` on a free loopback port over a copy of the
session's demo database, Quick start as a job whose run shows in the run browser without a
reload, the cluster map and a box selection opened side by side, a validated hypothesis and
one of the researcher's own tested, a text scored on the token diff page, a failed layer-lens
job's reason and then its result (no reload), the feature lens with its charts, one probe game
and its transcript. Screenshots go to tests/artifacts/."""
import os
import re
import shutil

import pytest

from browser_kit import (ARTIFACTS, ROOT, STARTED, box_select, browser_page, click_button,
                         dashboard, fill, plot_drawn, reload_until, settled,
                         skip_without_chromium)

skip_without_chromium()


def test_quick_start_to_a_validated_hypothesis(demo_db, tmp_path):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    db, _ = demo_db("cats", tmp_path)  # the run Quick start makes: the job finds it stored
    with dashboard(db) as server, browser_page() as page:
        page.goto(server)
        expect(page.get_by_role("button", name="Quick start")).to_be_visible(timeout=60_000)
        # The first page is named Home in the navigation (not after its file).
        nav = page.locator('[data-testid="stSidebarNav"]')
        expect(nav.get_by_text("Home", exact=True)).to_be_visible(timeout=30_000)
        assert nav.get_by_text("app", exact=True).count() == 0
        page.get_by_role("button", name="Quick start").click()
        expect(page.get_by_text(STARTED)).to_be_visible(timeout=60_000)
        # The jobs panel polls by itself: when the job ends the page says so and opens its
        # run in the run browser, with no reload.
        expect(page.get_by_text(re.compile(r"job-\w+ \(run\) finished"))).to_be_visible(
            timeout=600_000)
        expect(page.get_by_text(re.compile(r"Open run: run-"))).to_be_visible(timeout=30_000)
        settled(page)
        page.screenshot(path=str(ARTIFACTS / "home.png"), full_page=True)
        page.goto(server + "/clusters")
        plot_drawn(page)
        assert page.get_by_text("Page not found").count() == 0  # the URL is a page's
        page.screenshot(path=str(ARTIFACTS / "clusters.png"), full_page=True)
        # A box drawn over the map: its texts, and one of its prompts side by side.
        box_select(page)
        expect(page.get_by_text(re.compile(r"\d+ selected"))).to_be_visible(timeout=60_000)
        page.get_by_role("button", name="Open side by side").first.click()
        expect(page.get_by_text(re.compile(r"Sample 0"))).to_be_visible(timeout=60_000)
        assert "/prompts" in page.url
        settled(page)
        page.screenshot(path=str(ARTIFACTS / "prompts.png"), full_page=True)
        page.goto(server + "/hypotheses")
        expect(page.get_by_text(re.compile("Yardstick"))).to_be_visible(timeout=60_000)
        # The validated hypotheses are listed as plain text above the (canvas) table.
        expect(page.get_by_text(re.compile(r'VALIDATED\s+h\d+: Model B mentions "cat"'))
               ).to_be_visible(timeout=30_000)
        settled(page)
        page.screenshot(path=str(ARTIFACTS / "hypotheses.png"), full_page=True)
        # The researcher's own hypothesis, tested as a job; its result, with q, once it ends.
        page.get_by_text("Test your own hypothesis").click()
        # Typed without Enter: inside a form, Enter would submit it before every field is in.
        page.get_by_label("Your hypothesis").fill("Model B brings up dogs")
        page.get_by_label("Keywords (comma-separated)").fill("dog, dogs")
        page.get_by_role("button", name="Test my hypothesis").click()
        expect(page.get_by_text(STARTED)).to_be_visible(timeout=60_000)
        expect(page.get_by_text(re.compile(r"u1 \(yours\): Model B brings up dogs — .*q = "))
               ).to_be_visible(timeout=300_000)
        settled(page)
        page.screenshot(path=str(ARTIFACTS / "own_hypothesis.png"), full_page=True)
        # The run's two models on one text: a coloured token strip and the tokens B favours.
        page.goto(server + "/token_diff")
        page.get_by_role("button", name="Score under A and B").click()
        expect(page.get_by_text("B favours most")).to_be_visible(timeout=120_000)
        settled(page)
        page.screenshot(path=str(ARTIFACTS / "token_diff.png"), full_page=True)
        # The layer lens as a job: first with a window wider than the model (a reason only the
        # loaded model can give: the job fails and says why), then as it should be (few
        # generations): its heatmaps and curves once it is done, with no reload either time.
        page.goto(server + "/layers")
        fill(page, {"Layers scaled together (window)": "64",
                    "Fresh generations per setting (behaviour rate)": "8"})
        page.get_by_role("button", name="Run layer lens").click()
        expect(page.get_by_text(STARTED)).to_be_visible(timeout=60_000)
        expect(page.get_by_text(re.compile(r"\(layers\) failed in .*window must be between"))
               ).to_be_visible(timeout=300_000)
        fill(page, {"Layers scaled together (window)": "1"})
        click_button(page, "Run layer lens")
        expect(page.get_by_text(STARTED)).to_be_visible(timeout=60_000)
        expect(page.get_by_text(re.compile(r"behaviour vs α")).first).to_be_visible(
            timeout=600_000)
        plot_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "layers.png"), full_page=True)
        # The feature lens as a job (short training, few generations); then another feature's
        # top texts, opened from the feature picker.
        page.goto(server + "/features")
        fill(page, {"Training steps per dictionary": "600", "Fresh generations per setting": "4"})
        page.get_by_role("button", name="Run feature lens").click()
        expect(page.get_by_text(STARTED)).to_be_visible(timeout=60_000)
        reload_until(page, server + "/features", re.compile(r"Top texts of feature \d+"),
                     "the feature lens job")
        first = re.search(r"Top texts of feature (\d+)", page.get_by_text(
            re.compile(r"Top texts of feature \d+")).first.inner_text()).group(1)
        picker = page.get_by_role("combobox", name=re.compile("Feature"))
        options = page.get_by_role("option")
        # A rerun of the page (the jobs panel refreshing) closes an open list: open it again.
        for _ in range(3):
            settled(page)
            # Near the foot of the page the list would open below the window: room for it.
            picker.evaluate("e => e.scrollIntoView({block: 'start'})")
            picker.click()
            try:
                expect(options.nth(1)).to_be_visible(timeout=30_000)
                chosen = re.match(r"feature (\d+)", options.nth(1).inner_text(timeout=5_000)
                                  ).group(1)
                # A click in the page's own DOM: the list can open partly outside the window,
                # where a pointer cannot reach it (react-aria takes it as a keyboard press).
                options.nth(1).evaluate("e => e.click()", timeout=5_000)
                break
            except (AssertionError, PlaywrightTimeout):
                page.keyboard.press("Escape")
        else:
            pytest.fail("the feature picker's list closed each time it was opened")
        expect(page.get_by_text(f"Top texts of feature {chosen}")).to_be_visible(timeout=60_000)
        assert chosen != first
        expect(page.get_by_text(re.compile(r"model [AB] · max activation")).first
               ).to_be_visible(timeout=30_000)
        settled(page)
        page.screenshot(path=str(ARTIFACTS / "features.png"), full_page=True)
        # One probe game of three rounds; its transcript, with the truth revealed each round.
        page.goto(server + "/probe")
        fill(page, {"Rounds per game": "3", "Games": "1"})
        page.get_by_role("button", name="Play").click()
        expect(page.get_by_text(STARTED)).to_be_visible(timeout=60_000)
        # Done when the page no longer says a game is being played.
        reload_until(page, server + "/probe", re.compile(r"control \d/3 right"), "the probe game",
                     absent=re.compile(r"Playing now"))
        expect(page.get_by_text(re.compile(r"it was model [AB] · (right|wrong)")).first
               ).to_be_visible(timeout=30_000)
        expect(page.get_by_text(re.compile(r"Game 1: \d of 3 rounds guessed right"))
               ).to_be_visible(timeout=30_000)
        settled(page)
        page.screenshot(path=str(ARTIFACTS / "probe.png"), full_page=True)
    shots = ("home.png", "clusters.png", "prompts.png", "hypotheses.png", "own_hypothesis.png",
             "token_diff.png", "layers.png", "features.png", "probe.png")
    for name in shots:
        assert (ARTIFACTS / name).stat().st_size > 10_000
    if os.environ.get("MODELDIFF_UPDATE_SCREENSHOTS"):
        for name in shots:
            shutil.copy(ARTIFACTS / name, ROOT / "docs" / name)
