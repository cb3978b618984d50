"""The drift page: a histogram per input, recent vs training, in the very bins PSI compares.

A PSI of 0.31 says "moved"; the histogram says where. Each numeric input is
drawn in its training-quantile bins (open at both ends, so out-of-range
traffic shows as a bar of its own), each category with its unknown bucket:
the shares on the page are the shares the verdict was computed from.

    python -m src.drift --log PATH --html drift.html
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from src import metrics, pages, schema
from src.drift.judging import DriftReport, FeatureDrift, Reference, category_shares, numeric_inputs
from src.drift.reading import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from src.pages import FAIL, Section, esc, fmt

SECTIONS = ("verdict", "histograms", "table")
STATUS_OK = {"ok": True, "warn": None, "retrain": False}


def _bin_labels(edges: np.ndarray) -> list[str]:
    inner = [fmt(float(e), ".4g") for e in edges[1:-1]]
    if not inner:
        return ["all"]
    return [f"< {inner[0]}", *(f"{a} to {b}" for a, b in itertools.pairwise(inner)), f"≥ {inner[-1]}"]


def _histogram(name: str, labels: list[str], expected: np.ndarray, actual: np.ndarray, row: FeatureDrift) -> str:
    fig, ax = pages.figure(5.2, 3.0)
    x = np.arange(len(labels))
    ax.bar(x - 0.2, expected, width=0.4, color=pages.STABLE_COLOR, label="training")
    ax.bar(x + 0.2, actual, width=0.4, color=FAIL if row.status != "ok" else pages.CANDIDATE_COLOR, label="recent")
    ax.set_xticks(x, labels, rotation=35, ha="right", fontsize=7)
    ax.set_ylabel("share of rows")
    ax.set_title(f"{name}: PSI {row.psi:.4f} ({row.status})")
    ax.legend()
    caption = f"warn above {row.warn:.4f}, retrain above {row.retrain:.4f} (noise-calibrated for this batch)"
    return pages.chart(pages.svg(fig), caption)


def render(report: DriftReport, ref: Reference, recent: pd.DataFrame) -> str:
    """The whole page from the report and the rows it judged."""
    charts = []
    recent_num = numeric_inputs(recent)
    for name in NUMERIC_FEATURES:
        actual = metrics.bin_shares(recent_num[name].to_numpy(), ref.edges[name])
        charts.append(_histogram(name, _bin_labels(ref.edges[name]), ref.expected[name], actual, report.features[name]))
    for name in CATEGORICAL_FEATURES:
        labels = [*schema.BY_NAME[name].allowed, "unknown"]
        actual = category_shares(recent[name], schema.BY_NAME[name].allowed)
        charts.append(_histogram(name, labels, ref.expected[name], actual, report.features[name]))
    rows, classes = [], []
    for name, row in report.features.items():
        rows.append([esc(name), f"{row.psi:.4f}", f"{row.warn:.4f}", f"{row.retrain:.4f}", esc(row.status)])
        classes.append("" if row.status == "ok" else "fail")
    for name, row in report.unknown.items():
        rows.append([esc(f"unknown {name} share"), f"{row.share:.2%}", "-", "-", esc(row.status)])
        classes.append("" if row.status == "ok" else "fail")
    status = report.status
    subtitle = (
        f"{pages.verdict_badge(status, STATUS_OK.get(status))} {report.n_recent:,} recent predictions vs "
        f"{report.n_training:,} training rows"
    )
    sections = [
        Section("verdict", "Verdict", f"<p><strong>{esc(report.reason)}</strong></p>"),
        Section("histograms", "Each input, recent vs training", f'<div class="charts">{"".join(charts)}</div>'),
        Section(
            "table",
            "PSI per input",
            pages.table(["input", "PSI / share", "warn >", "retrain >", "status"], rows, classes),
        ),
    ]
    return pages.page("Drift: recent predictions vs the training snapshot", subtitle, sections)
