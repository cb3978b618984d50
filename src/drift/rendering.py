"""The drift report as a markdown table: readable in a terminal and pasteable into a CI summary."""

from __future__ import annotations

from src.drift.judging import (
    PSI_RETRAIN,
    PSI_WARN,
    RETRAIN_FALSE_ALARM,
    UNKNOWN_RETRAIN,
    UNKNOWN_WARN,
    WARN_FALSE_ALARM,
    DriftReport,
    p_text,
)
from src.drift.reading import SKIP_REASONS
from src.metrics import BINS


def render(report: DriftReport) -> str:
    """A markdown table: readable in a terminal and pasteable into a CI summary."""
    lines = [
        f"drift: {report.n_recent:,} recent predictions vs {report.n_training:,} training rows",
        "",
        "| feature | PSI | p (noise) | warn > | retrain > | status |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in report.features.items():
        lines.append(
            f"| {name} | {row.psi:.4f} | {p_text(row.p)} | {row.warn:.4f} | {row.retrain:.4f} | {row.status} |"
        )
    lines.append("")
    for name, row in report.unknown.items():
        lines.append(
            f"unknown {name} share: {row.share:.2%} ({row.status}; "
            f"warn > {UNKNOWN_WARN:.0%}, retrain > {UNKNOWN_RETRAIN:.0%})"
        )
    if report.lines is not None:
        lines += ["", f"lines read: {report.lines:,}; skipped: {sum((report.skipped or {}).values()):,}"]
        if report.skipped:
            lines += ["", "| skipped line | count | meaning |", "| --- | --- | --- |"]
            lines += [f"| {k} | {v:,} | {SKIP_REASONS[k]} |" for k, v in report.skipped.items()]
    lines += [
        "",
        f"PSI lines: per feature, the noise-only PSI for this batch size and {BINS} training-quantile bins "
        f"(false alarm per batch <= {WARN_FALSE_ALARM:.1%} warn, {RETRAIN_FALSE_ALARM:.2%} retrain), "
        f"never under {PSI_WARN} / {PSI_RETRAIN}",
        f"drift: {report.reason}",
    ]
    return "\n".join(lines)
