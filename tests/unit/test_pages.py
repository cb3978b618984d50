"""The HTML pages in-process: self-contained (nothing fetched), every section drawn, a failure highlighted.

A page that references a CDN script, a web font or a remote image opens blank
or half-drawn from a CI artifact on a laptop offline; these tests read the
markup for anything a browser would fetch. tests/pages draws them in a real
Chromium.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from html import escape as html_escape
from pathlib import Path

import pandas as pd
import pytest

from deploy.render import page as rollout_page
from deploy.rules.window import StepResult
from deploy.settings import RolloutSettings
from src import artifacts, card, record
from src.drift import judging, reading
from src.drift import page as drift_page
from src.gate import stage
from src.make_dataset import generate, write
from tools.service_log import write_log

# Attributes a browser loads from, and CSS that loads; a fragment (#id) or an inline data: URI stays in the page.
FETCHING_ATTRIBUTE = re.compile(r'\b(?:src|href|xlink:href|srcset|poster|action|data)\s*=\s*["\']([^"\']*)["\']', re.I)
FETCHING_CSS = re.compile(r"@import|url\(\s*['\"]?(?!#|data:)", re.I)
FETCHING_TAG = re.compile(r"<\s*(?:script|link|iframe|object|embed|img|base)\b", re.I)


def network_references(html: str) -> list[str]:
    """Everything in `html` a browser would fetch: empty for a self-contained page."""
    found = [f"attribute -> {v}" for v in FETCHING_ATTRIBUTE.findall(html) if not v.startswith(("#", "data:"))]
    found += [f"css: {m.group(0)}" for m in FETCHING_CSS.finditer(html)]
    found += [f"tag: {m.group(0)}" for m in FETCHING_TAG.finditer(html)]
    return found


def test_the_network_check_catches_what_a_browser_would_fetch() -> None:
    fetching = [
        '<script src="https://cdn.example/x.js"></script>',
        '<link rel="stylesheet" href="//fonts.example/css">',
        '<img src="chart.png">',
        "<style>@import 'https://x/y.css'</style>",
        '<div style="background:url(https://x/y.png)"></div>',
        '<svg><image xlink:href="http://x/y.png"/></svg>',
    ]
    for markup in fetching:
        assert network_references(markup), f"the check misses a fetch in {markup}"
    assert not network_references('<svg><use xlink:href="#m1"/><rect style="fill:url(#g)"/></svg>')


def _sections(html: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)"', html)


@pytest.fixture(scope="module")
def rejected(small_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real failing gate: the same snapshot judged against a production baseline no model here can meet."""
    folder = tmp_path_factory.mktemp("rejected")
    passed = record.read(small_artifact / artifacts.METRICS_FILE)
    baseline = folder / "prod_metrics.json"
    record.write(passed.model_copy(update={"holdout_auc": min(1.0, passed.holdout_auc + 0.1)}), baseline)
    result = stage.run(small_artifact / "snapshot.csv", folder, passed.seed, baseline)
    assert not result.passed, "the baseline should make the regression check fail"
    return folder / artifacts.REJECTED_DIR


def _card(folder: Path, snapshot: Path) -> tuple[record.ArtifactRecord, str]:
    rec = record.read(folder / artifacts.METRICS_FILE)
    return rec, card.render(rec, folder / artifacts.MODEL_FILE, snapshot)


def test_the_model_card_is_self_contained_and_holds_every_section(small_artifact: Path) -> None:
    rec, html = _card(small_artifact, small_artifact / "snapshot.csv")
    assert network_references(html) == []
    assert _sections(html) == list(card.SECTIONS)
    assert html.count("<svg") >= 4, "ROC, reliability, slices and scores are each a chart"
    for check in rec.gate.checks:  # every judged check, generically: a new check appears without edits
        assert f"<code>{check.id}</code>" in html, f"check {check.id} missing from the gate table"
    assert rec.model_sha256 in html, "provenance names the model by sha256"
    assert rec.data_sha256 in html, "provenance names the snapshot by sha256"
    assert 'class="fail"' not in html, "a passed gate has no failing row"


def test_a_failed_gate_card_highlights_exactly_the_failing_checks(rejected: Path, small_artifact: Path) -> None:
    rec, html = _card(rejected, small_artifact / "snapshot.csv")
    assert rec.gate.failed, "the fixture must be a failing gate"
    highlighted = re.findall(r'<tr class="fail"><td><code>([^<]+)</code>', html)
    assert highlighted == rec.gate.failed, f"highlighted {highlighted}, failed {rec.gate.failed}"
    assert "gate FAILED" in html


def test_the_same_pair_draws_the_same_card_byte_for_byte(small_artifact: Path) -> None:
    assert (
        _card(small_artifact, small_artifact / "snapshot.csv")[1]
        == _card(small_artifact, small_artifact / "snapshot.csv")[1]
    ), "charts must not carry dates or random ids: a rerun would look like a change"


def test_a_card_on_another_snapshot_is_refused_in_one_line(small_artifact: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    write(generate(seed=8, n=300), other)
    rec = record.read(small_artifact / artifacts.METRICS_FILE)
    with pytest.raises(card.CardError, match="gated on") as caught:
        card.render(rec, small_artifact / artifacts.MODEL_FILE, other)
    assert "\n" not in str(caught.value)


def test_the_drift_page_draws_one_histogram_per_input(snapshot: pd.DataFrame, tmp_path: Path) -> None:
    recent = snapshot.sample(600, random_state=3)
    log = write_log(tmp_path / "service.log", recent)
    report, ref, rows = judging.check_frames(log, _csv(snapshot, tmp_path))
    html = drift_page.render(report, ref, rows)
    assert network_references(html) == []
    assert _sections(html) == list(drift_page.SECTIONS)
    inputs = [*reading.NUMERIC_FEATURES, *reading.CATEGORICAL_FEATURES]
    assert html.count("<svg") == len(inputs), "one histogram per model input"
    for name in inputs:
        assert f"{name}: PSI" in html, f"no histogram titled for {name}"


def _csv(snapshot: pd.DataFrame, tmp_path: Path) -> Path:
    path = tmp_path / "training.csv"
    write(snapshot, path)
    return path


def _step(stage: str, verdict: str, reason: str = "", **figures: float) -> dict:
    base = StepResult(
        stage=stage,
        requests=300,
        candidate_requests=300,
        success_rate=figures.get("success_rate", 1.0),
        candidate_p99_ms=9.0,
        p99_bound_ms=14.0,
        candidate_tail=0.01,
        stable_tail=0.01,
        psi=0.01 if stage == "shadow" else None,
        churn_shift=0.0,
        churn_bound=0.05,
        verdict=verdict,
        reason=reason,
        stable_success_rate=1.0,
        stable_p99_ms=9.5,
        checks={"success": verdict, "latency": "pass"},
    )
    return asdict(base)


def test_a_rolled_back_rollout_page_says_why_and_marks_the_failing_window(tmp_path: Path) -> None:
    reason = "canary 25%: candidate success 51.7% < 99%"
    report = {
        "stable": "stable/model_candidate.skops",
        "candidate": "candidate/model_candidate.skops",
        "config": RolloutSettings().model_dump(mode="json"),
        "steps": [_step("shadow", "pass"), _step("canary 25%", "fail", reason, success_rate=0.517)],
        "outcome": "rolled_back",
        "reason": reason,
    }
    path = tmp_path / "rollout.json"
    path.write_text(json.dumps(report))
    assert rollout_page.write_beside(report, path) == f"page: {tmp_path / rollout_page.PAGE_FILE}"
    html = (tmp_path / rollout_page.PAGE_FILE).read_text()
    assert network_references(html) == []
    assert _sections(html) == list(rollout_page.SECTIONS)
    outcome = html.split('<section id="outcome">')[1].split("</section>")[0]
    assert "rolled back" in outcome, outcome
    assert html_escape(reason) in outcome, "the outcome section must say why"
    assert html.count('<tr class="fail"><td>canary 25%</td>') == 2, "the failing window is marked in both tables"


def test_a_refused_rollout_still_gets_a_page_without_windows(tmp_path: Path) -> None:
    report = {"config": {}, "outcome": "refused", "reason": "ratchet: candidate AUC 0.8 < production 0.85 - 0.02"}
    line = rollout_page.write_beside(report, tmp_path / "rollout.json")
    assert line.startswith("page: "), line
    html = (tmp_path / rollout_page.PAGE_FILE).read_text()
    assert html_escape(report["reason"]) in html
    assert "No window was judged" in html
