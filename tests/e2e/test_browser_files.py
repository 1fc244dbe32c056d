"""A real-browser session on two real models' stored answers: uploaded on the Models page and
compared as a job — no weights, no organisms. The answers are the first 120 AlpacaEval
instructions of Qwen1.5-7B and Llama-3-70B (two families: their differences validate on 120
prompts — from the CLI, 4 of 4 hypotheses at q <= 0.0007 — where a whole pair of one family
needs all 805 and minutes of embedding; the full pairs are measured by the CLI in
docs/figures.md); each validated hypothesis shows the generative test as skipped, with its
reason."""
import re

import pytest
from browser_kit import (ARTIFACTS, ROOT, STARTED, browser_page, dashboard, reload_until,
                         settled, skip_without_chromium)

skip_without_chromium()
ALPACA = ROOT.parent / "shared" / "data" / "alpacaeval"


N_PROMPTS = 120


@pytest.mark.skipif(not (ALPACA / "llama3_70b.jsonl").exists(),
                    reason="the shared AlpacaEval answers are not here")
def test_two_uploaded_files_of_answers_to_a_result(tmp_path):
    from playwright.sync_api import expect

    names = ("qwen15_7b.jsonl", "llama3_70b.jsonl")
    for name in names:
        lines = (ALPACA / name).read_text(encoding="utf-8").splitlines(keepends=True)
        (tmp_path / name).write_text("".join(lines[:N_PROMPTS]), encoding="utf-8")

    with dashboard(tmp_path / "files.duckdb") as server, browser_page() as page:
        page.goto(server + "/models")
        expect(page.get_by_text("file of answers").first).to_be_visible(timeout=60_000)
        for i, name in enumerate(names):
            page.get_by_text("file of answers").nth(i).click()
            uploads = page.locator('input[type="file"]')
            expect(uploads.nth(i)).to_be_attached(timeout=30_000)
            uploads.nth(i).set_input_files(str(tmp_path / name))
            expect(page.get_by_text(name).first).to_be_visible(timeout=30_000)
        settled(page)
        page.get_by_role("button", name="Check and use this pair").click()
        expect(page.get_by_text(re.compile(rf"{N_PROMPTS} prompts paired"))
               ).to_be_visible(timeout=60_000)
        # By the navigation, not a new page load: the chosen pair lives in this session.
        page.locator('[data-testid="stSidebarNav"]').get_by_text("Generate", exact=True).click()
        expect(page.get_by_text(re.compile(r"outputs:qwen15_7b\.jsonl"))).to_be_visible(
            timeout=60_000)
        page.get_by_role("button", name="Start").click()
        expect(page.get_by_text(STARTED)).to_be_visible(timeout=60_000)
        reload_until(page, server, "done", "the comparison of the two files")
        page.goto(server + "/hypotheses")
        expect(page.get_by_text(re.compile("Yardstick"))).to_be_visible(timeout=60_000)
        expect(page.get_by_text(re.compile(r"[1-9]\d* of \d+ hypotheses validated"))
               ).to_be_visible(timeout=30_000)
        expect(page.get_by_text(re.compile(r"Generative test skipped: model A: no log-probs"))
               ).to_be_visible(timeout=30_000)
        settled(page)
        page.screenshot(path=str(ARTIFACTS / "outputs_hypotheses.png"), full_page=True)
    assert (ARTIFACTS / "outputs_hypotheses.png").stat().st_size > 10_000
