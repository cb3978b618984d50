"""The pages as a reader sees them: written by their CLIs, opened from the file in a real headless Chromium.

Each page must parse into every declared section (the DOM Chromium dumps) and
draw (a screenshot with ink and colour, not a blank or text-only page); a
failed gate's card must show its failing row in the highlight colour. The
rollout page is drawn by a real rollout in tests/deploy/test_rollout.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from src import artifacts, card, data, exits, pages, record
from src.drift import page as drift_page
from src.drift import reading
from src.processes import run_module
from tests.browser import Rendered, render, section_ids
from tools.service_log import write_log

MIN_INK = 0.03  # share of non-white pixels: a page of tables and charts; a blank page has ~0
MIN_COLOURS = 64  # text alone antialiases into a few dozen greys; charts add the series' colours


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _drawn(rendered: Rendered, sections: tuple[str, ...]) -> None:
    assert section_ids(rendered.dom) == list(sections), "Chromium parsed other sections than the page declares"
    assert rendered.ink() > MIN_INK, f"the screenshot is nearly blank ({rendered.ink():.1%} ink)"
    assert rendered.colours() > MIN_COLOURS, f"only {rendered.colours()} colours: the charts did not draw"


def _card_cli(folder: Path, snapshot: Path, out: Path) -> str:
    result = run_module("src.report", "--dir", str(folder), "--data", str(snapshot), "--html", str(out))
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout, "the CLI must say where the card is"
    return result.stdout


def test_make_report_html_draws_a_card_chromium_shows_whole(small_artifact: Path, tmp_path: Path) -> None:
    page = tmp_path / "model-card.html"
    _card_cli(small_artifact, small_artifact / "snapshot.csv", page)
    rendered = render(page, tmp_path / "model-card.png")
    _drawn(rendered, card.SECTIONS)
    for section in ("roc", "calibration", "slices", "scores"):
        body = rendered.dom.split(f'<section id="{section}">')[1].split("</section>")[0]
        assert "<svg" in body, f"section {section} holds no chart in the browser's DOM"


def test_a_failed_gate_card_shows_the_failing_check_highlighted(small_artifact: Path, tmp_path: Path) -> None:
    passed = record.read(small_artifact / artifacts.METRICS_FILE)
    baseline = tmp_path / "prod_metrics.json"
    record.write(passed.model_copy(update={"holdout_auc": min(1.0, passed.holdout_auc + 0.1)}), baseline)
    snapshot = small_artifact / "snapshot.csv"
    gated = run_module("src.gate", "--data", str(snapshot), "--out", str(tmp_path), "--baseline", str(baseline))
    assert gated.returncode == 1, f"the gate should fail on regression: {gated.stdout[-400:]}{gated.stderr}"
    page = tmp_path / "card.html"
    assert "gate FAILED" in _card_cli(tmp_path, snapshot, page), "the card of the newest verdict: the rejection"
    rendered = render(page, tmp_path / "card.png")
    _drawn(rendered, card.SECTIONS)
    highlighted = re.findall(r'<tr class="fail"><td(?: class="num")?><code>([^<]+)</code>', rendered.dom)
    assert highlighted == ["regression"], f"highlighted rows: {highlighted}"
    pixels = np.asarray(Image.open(rendered.screenshot).convert("RGB")).reshape(-1, 3)
    row = np.all(pixels == _hex_rgb(pages.FAIL_ROW), axis=1).sum()
    assert row > 2000, f"the failing row's highlight covers {row} pixels: the reader would not see it"


def test_the_drift_page_shows_a_histogram_per_input(small_artifact: Path, tmp_path: Path) -> None:
    snapshot = small_artifact / "snapshot.csv"
    recent = data.load(snapshot).sample(600, random_state=5)
    recent["monthly_charges"] = recent["monthly_charges"] * 1.5  # drift one input, so the page has a red one
    log = write_log(tmp_path / "service.log", recent)
    page = tmp_path / "drift.html"
    result = run_module("src.drift", "--log", str(log), "--data", str(snapshot), "--html", str(page))
    assert result.returncode == exits.NO, f"a 1.5x charges batch must call for retraining: {result.stdout[-300:]}"
    rendered = render(page, tmp_path / "drift.png")
    _drawn(rendered, drift_page.SECTIONS)
    inputs = [*reading.NUMERIC_FEATURES, *reading.CATEGORICAL_FEATURES]
    histograms = rendered.dom.split('<section id="histograms">')[1].split("</section>")[0]
    assert histograms.count("<svg") == len(inputs), "one histogram per model input"
    assert "monthly_charges: PSI" in histograms


@pytest.mark.parametrize("missing", ["card", "snapshot"])
def test_a_card_that_cannot_be_drawn_is_one_line_and_leaves_the_old_page(
    small_artifact: Path, tmp_path: Path, missing: str
) -> None:
    page = tmp_path / "model-card.html"
    page.write_text("the previous card")
    folder = tmp_path / "empty" if missing == "card" else small_artifact
    snapshot = tmp_path / "no-such.csv" if missing == "snapshot" else small_artifact / "snapshot.csv"
    result = run_module("src.report", "--dir", str(folder), "--data", str(snapshot), "--html", str(page))
    assert result.returncode == exits.REFUSED, "a card that cannot be drawn is refused input, not a failed gate"
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1, f"one readable line, not {lines}"
    assert page.read_text() == "the previous card", "a failed render must never replace a good page"
