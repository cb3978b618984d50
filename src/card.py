"""The model card: one self-contained HTML page of a gated (or rejected) pair, for people who look.

A reviewer approving a release wants the ROC, the reliability diagram, the
slices against their floor and the score distributions; a teacher wants the
same pictures to explain them. Everything on the page is measured again here
from the pair and the holdout it was judged on (the one split of
`src.train`), except the gate's verdict, which is read from the record: the
page shows what the gate decided, never a second opinion. The gate table is
rendered from the record's checks, with each check's "why" looked up in
`src.gate.contract.CHECKS` by id, so a check added to the gate appears here unedited.

    python -m src.report --html reports/model-card.html     (make report-html)
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from src import artifacts, config, data, metrics, pages, schema, train
from src.gate import contract
from src.pages import FAIL, PASS, SKIP, Section, esc, fmt
from src.record import ArtifactRecord

# The card's sections, in page order: a reader links to them, the browser test looks for each.
SECTIONS = ("gate", "roc", "calibration", "slices", "scores", "features", "provenance")


class CardError(ValueError):
    """The card cannot be drawn (no pair, a snapshot that is not the one judged); the message is one line."""


@dataclass(frozen=True)
class Holdout:
    """The holdout the gate judged: labels, the pair's scores, and the rows they came from."""

    y: np.ndarray
    p: np.ndarray
    rows: pd.DataFrame


def holdout(model_path: Path, rec: ArtifactRecord, data_path: Path) -> Holdout:
    """Re-score the pair on its holdout; refuse a snapshot other than the one its record names."""
    if not data_path.is_file():
        raise CardError(f"no snapshot at {data_path}: pass the one the model was gated on (--data / CHURN_DATA)")
    data_sha = artifacts.sha256_file(data_path)
    if data_sha != rec.data_sha256:
        raise CardError(
            f"{data_path} has sha256 {data_sha[:12]} but the model was judged on {rec.data_sha256[:12]}: "
            "pass the snapshot it was gated on (--data / CHURN_DATA)"
        )
    model, _ = artifacts.load_verified(model_path)
    fitted = train.resplit(data.load(data_path), model, rec.seed, rec.train_seconds)
    return Holdout(
        y=fitted.y_hold.to_numpy(), p=model.predict_proba(fitted.X_hold)[:, 1], rows=fitted.hold_rows.reset_index()
    )


def commit() -> str:
    """The checkout's commit (dirty marked), or "unknown" outside git: provenance, never a failure."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=config.ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=config.ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha} (uncommitted changes)" if dirty else sha


# --- sections ----------------------------------------------------------------


def gate_section(rec: ArtifactRecord) -> Section:
    """Every judged check with its threshold and why; a failing row is highlighted."""
    if rec.gate is None:
        return Section("gate", "Gate", "<p>The gate has not judged this model (an ungated training run).</p>")
    why = {c.id: c.why for c in contract.CHECKS}
    rows, classes = [], []
    for c in rec.gate.checks:
        mark = {"passed": "pass", "failed": "FAIL", "skipped": "skipped"}[c.outcome]
        threshold = "-" if c.outcome == "skipped" else f"{esc(c.op)} {fmt(c.threshold)}"
        detail = c.detail if c.outcome != "passed" else ""
        rows.append(
            [
                f"<code>{esc(c.id)}</code>",
                esc(c.label),
                fmt(c.value),
                threshold,
                f"<strong>{mark}</strong>",
                esc(why.get(c.id, "-")),
                esc(detail),
            ]
        )
        classes.append({"failed": "fail", "skipped": "skipped"}.get(c.outcome, ""))
    verdict = (
        pages.verdict_badge("gate PASSED", True)
        if rec.gate.passed
        else pages.verdict_badge(f"gate FAILED: {', '.join(rec.gate.failed)}", False)
    )
    body = f"<p>{verdict}</p>" + pages.table(
        ["check", "what", "value", "threshold", "result", "why", "detail"], rows, classes
    )
    return Section("gate", "Gate: every check, its threshold and why", body)


def roc_section(h: Holdout, rec: ArtifactRecord) -> Section:
    fpr, tpr, _ = roc_curve(h.y, h.p)
    fig, ax = pages.figure(4.2, 4.0)
    ax.plot(fpr, tpr, color=pages.STABLE_COLOR, lw=2, label=f"model (AUC {rec.holdout_auc:.3f})")
    ax.plot([0, 1], [0, 1], color=SKIP, ls="--", lw=1, label="chance (AUC 0.5)")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC on the holdout")
    ax.legend(loc="lower right")
    caption = (
        f"{rec.n_holdout:,} holdout customers; AUC floor {contract.AUC_FLOOR}, leakage ceiling {contract.AUC_CEILING}."
    )
    return Section("roc", "ROC curve", pages.chart(pages.svg(fig), caption))


def reliability(h: Holdout) -> tuple[list[str], list[float], list[float], list[int]]:
    """Per non-empty ECE bin: its range, mean predicted, observed rate and size (what the ECE averages)."""
    n_bins = metrics.ECE_BINS
    bins = np.minimum((h.p * n_bins).astype(int), n_bins - 1)
    names, predicted, observed, counts = [], [], [], []
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            names.append(f"{b / n_bins:.1f}-{(b + 1) / n_bins:.1f}")
            predicted.append(float(h.p[mask].mean()))
            observed.append(float(h.y[mask].mean()))
            counts.append(int(mask.sum()))
    return names, predicted, observed, counts


def calibration_section(h: Holdout, rec: ArtifactRecord) -> Section:
    """The reliability diagram in the ECE's own bins: the gap a point shows is what the ECE averages."""
    n_bins = metrics.ECE_BINS
    _, predicted, observed, counts = reliability(h)
    fig, ax = pages.figure(4.2, 4.0)
    ax.plot([0, 1], [0, 1], color=SKIP, ls="--", lw=1, label="perfectly calibrated")
    ax.plot(predicted, observed, "o-", color=pages.STABLE_COLOR, lw=2, label="model")
    for x, y, n in zip(predicted, observed, counts, strict=True):
        ax.annotate(f"n={n}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7, color=SKIP)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted churn probability (bin)")
    ax.set_ylabel("observed churn rate")
    ax.set_title(f"Reliability diagram, ECE {rec.holdout_ece:.4f} (max {contract.ECE_MAX})")
    ax.legend(loc="upper left")
    caption = f"{n_bins} equal-width bins, as the ECE is computed; a point under the diagonal over-predicts churn."
    return Section("calibration", "Reliability diagram and ECE", pages.chart(pages.svg(fig), caption))


def slices_section(rec: ArtifactRecord) -> Section:
    """AUC per declared slice against the floor; slices too small to judge are drawn grey."""
    charts, rows, classes = [], [], []
    for column, groups in rec.slices.items():
        names = list(groups)
        aucs = [groups[g].auc for g in names]
        judged = [groups[g].n >= contract.SLICE_MIN_ROWS and groups[g].auc is not None for g in names]
        colors = [
            SKIP if not ok else PASS if (a or 0) >= contract.SLICE_AUC_FLOOR else FAIL
            for a, ok in zip(aucs, judged, strict=True)
        ]
        fig, ax = pages.figure(5.0, 3.2)
        ax.bar(names, [a or 0.0 for a in aucs], color=colors)
        ax.axhline(contract.SLICE_AUC_FLOOR, color=FAIL, ls="--", lw=1, label=f"floor {contract.SLICE_AUC_FLOOR}")
        ax.set_ylim(0, 1)
        ax.set_ylabel("holdout AUC")
        ax.set_title(f"AUC per {column} slice")
        ax.legend(loc="lower right")
        charts.append(pages.chart(pages.svg(fig), f"grey: fewer than {contract.SLICE_MIN_ROWS} rows, not judged"))
        for g, ok in zip(names, judged, strict=True):
            s = groups[g]
            low = ok and (s.auc or 0.0) < contract.SLICE_AUC_FLOOR
            rows.append(
                [esc(column), esc(g), f"{s.n:,}", fmt(s.churn_rate), fmt(s.auc), fmt(s.ece), "yes" if ok else "no"]
            )
            classes.append("fail" if low else "")
    body = f'<div class="charts">{"".join(charts)}</div>' + pages.table(
        ["slice column", "slice", "n", "churn rate", "AUC", "ECE", "judged"], rows, classes
    )
    return Section("slices", "AUC per slice against its floor", body)


def scores_section(h: Holdout) -> Section:
    fig, ax = pages.figure(5.5, 3.4)
    edges = np.linspace(0, 1, 41)
    for label, color, name in ((0, pages.STABLE_COLOR, "stayed (0)"), (1, FAIL, "churned (1)")):
        ax.hist(h.p[h.y == label], bins=edges, alpha=0.55, color=color, density=True, label=name)
    ax.set_xlabel("predicted churn probability")
    ax.set_ylabel("density")
    ax.set_title("Score distribution by true label")
    ax.legend()
    caption = "Well-separated humps make a high AUC; overlap is where the model cannot tell customers apart."
    return Section("scores", "Score distributions by label", pages.chart(pages.svg(fig), caption))


def features_section(rec: ArtifactRecord, rows: pd.DataFrame) -> Section:
    """Each contract input with its rule and why, and what the holdout holds of it."""
    out = []
    for c in schema.INPUTS:
        values = rows[c.name]
        if c.numeric:
            numeric = pd.to_numeric(values, errors="coerce").dropna()
            low, mid, high = (fmt(float(v)) for v in (numeric.min(), numeric.median(), numeric.max()))
            seen = f"min {low}, median {mid}, max {high}"
            blank = int(values.isna().sum())
            if blank:
                seen += f"; {blank} blank"
        elif c.kind == "category":
            shares = values.value_counts(normalize=True)
            seen = ", ".join(f"{esc(k)} {shares.get(k, 0.0):.0%}" for k in c.allowed)
        else:
            seen = f"{values.nunique():,} distinct"
        rule = esc(c.rule().replace("`", ""))
        out.append([f"<code>{esc(c.name)}</code>", esc(c.kind), rule, esc(c.why), esc(c.expect or "-"), seen])
    body = pages.table(["input", "type", "rule", "why", "expected direction", "in the holdout"], out)
    body += f"<p>Model features, in order: <code>{esc(', '.join(rec.feature_columns))}</code></p>"
    return Section("features", "Features, from the data contract", body)


def provenance_section(rec: ArtifactRecord, model_path: Path, data_path: Path) -> Section:
    rows = [
        ["model file", f"<code>{esc(model_path.name)}</code> ({model_path.stat().st_size / 1e6:.3f} MB)"],
        ["model sha256", f"<code>{esc(rec.model_sha256)}</code>"],
        ["model version", f"<code>{esc(rec.model_version)}</code> ({esc(rec.model_type)})"],
        ["data", f"<code>{esc(data_path.name)}</code>"],
        ["data sha256", f"<code>{esc(rec.data_sha256)}</code>"],
        ["seed / train / holdout", f"{rec.seed} / {rec.n_train:,} / {rec.n_holdout:,}"],
        ["commit", f"<code>{esc(commit())}</code>"],
        *[[esc(k), f"<code>{esc(v)}</code>"] for k, v in rec.versions.items()],
    ]
    return Section("provenance", "Provenance", pages.table(["what", "value"], rows))


def mermaid(rec: ArtifactRecord, model_path: Path, data_path: Path) -> str:
    """The card's compact form for a CI job summary, which renders Markdown and Mermaid but not inline SVG."""
    lines: list[str] = []
    for column, groups in rec.slices.items():
        names = [g for g in groups if groups[g].auc is not None]
        lines += [
            "",
            "```mermaid",
            "xychart-beta",
            f'    title "AUC per {column} slice (bars) vs floor {contract.SLICE_AUC_FLOOR} (line)"',
            f"    x-axis [{', '.join(_quoted(g) for g in names)}]",
            '    y-axis "holdout AUC" 0 --> 1',
            f"    bar [{', '.join(f'{groups[g].auc:.4f}' for g in names)}]",
            f"    line [{', '.join(str(contract.SLICE_AUC_FLOOR) for _ in names)}]",
            "```",
        ]
    try:
        names, predicted, observed, _ = reliability(holdout(model_path, rec, data_path))
    except (CardError, artifacts.ArtifactError, OSError, ValueError) as exc:
        return "\n".join([*lines, "", f"(reliability diagram not drawn: {exc})"])
    lines += [
        "",
        "```mermaid",
        "xychart-beta",
        f'    title "Reliability, ECE {rec.holdout_ece:.4f}: observed rate (bars) vs mean predicted (line)"',
        f"    x-axis [{', '.join(_quoted(n) for n in names)}]",
        '    y-axis "churn rate" 0 --> 1',
        f"    bar [{', '.join(f'{v:.4f}' for v in observed)}]",
        f"    line [{', '.join(f'{v:.4f}' for v in predicted)}]",
        "```",
    ]
    return "\n".join(lines)


def _quoted(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def render(rec: ArtifactRecord, model_path: Path, data_path: Path) -> str:
    """The whole card for the pair at `model_path`, judged on `data_path`."""
    h = holdout(model_path, rec, data_path)
    ok = None if rec.gate is None else rec.gate.passed
    status = "not gated" if rec.gate is None else "gate passed" if ok else "gate FAILED"
    subtitle = (
        f"{pages.verdict_badge(status, ok)} model <code>{esc(rec.model_version)}</code>, "
        f"holdout AUC {rec.holdout_auc:.4f}, ECE {rec.holdout_ece:.4f}, p99 {rec.predict_p99_ms:.2f} ms"
    )
    sections = [
        gate_section(rec),
        roc_section(h, rec),
        calibration_section(h, rec),
        slices_section(rec),
        scores_section(h),
        features_section(rec, h.rows),
        provenance_section(rec, model_path, data_path),
    ]
    return pages.page("Model card: churn model", subtitle, sections)
