"""The rollout page: rollout.html beside rollout.json, for the on-call engineer who looks.

Drawn only from the rollout's record (the JSON `deploy.rollout` writes), so a
page can be redrawn from any old record and never disagrees with it: per
window, candidate vs stable success rate and p99 against their bounds, the
shadow's score PSI and decision flips, the verdict of each window check, and
the outcome with its reason. A page that cannot be drawn never changes the
rollout's outcome: `write_beside` says so in one line and the record stands.

`python -m deploy.rollout_page STACK_DIR/rollout.json` redraws a page from a record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deploy.rules.window import WINDOW_CHECKS

PAGE_FILE = "rollout.html"
# Every section a page with judged windows holds, in page order (a refused rollout has outcome, figures, shadow,
# checks and config only: no window was judged).
SECTIONS = ("outcome", "windows", "figures", "shadow", "checks", "config")
CHECK_NAMES = {check.id: check.label for check in WINDOW_CHECKS}
OUTCOMES = {"promoted": True, "rolled_back": False, "refused": False, "interrupted": None}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def render(report: dict[str, Any]) -> str:
    """The whole page from a rollout record (older records without stable figures draw dashes there)."""
    from src import pages  # matplotlib comes with the pages only
    from src.pages import FAIL, PASS, SKIP, Section, esc

    steps: list[dict[str, Any]] = report.get("steps", [])
    cfg: dict[str, Any] = report.get("config", {})
    outcome = str(report.get("outcome", "unknown"))
    reason = str(report.get("reason", ""))
    ok = OUTCOMES.get(outcome)
    badge = pages.verdict_badge(outcome.replace("_", " "), ok)
    subtitle = (
        f"{badge} candidate <code>{esc(report.get('candidate', '?'))}</code>"
        f" vs stable <code>{esc(report.get('stable', '?'))}</code>"
    )
    sections = [
        Section(
            "outcome",
            "Outcome and why",
            f"<p>{badge}</p><p><strong>{esc(reason or '-')}</strong></p>"
            + ("" if steps else "<p>No window was judged: the rollout stopped before the stack took traffic.</p>"),
        )
    ]
    names = [s["stage"] for s in steps]
    x = np.arange(len(steps))
    if steps:
        fig, ax = pages.figure(6.0, 3.2)
        ax.plot(x, [s["success_rate"] for s in steps], "o-", color=pages.CANDIDATE_COLOR, label="candidate")
        stable = [s.get("stable_success_rate") for s in steps]
        ax.plot(x, [np.nan if v is None else v for v in stable], "s--", color=pages.STABLE_COLOR, label="stable")
        ax.axhline(cfg.get("min_success_rate", 0.99), color=FAIL, ls=":", lw=1, label="minimum (candidate)")
        ax.set_xticks(x, names)
        ax.set_ylim(min(0.9, *(s["success_rate"] for s in steps)) - 0.02, 1.005)
        ax.set_ylabel("success rate (< 400)")
        ax.set_title("Success rate per window")
        ax.legend(loc="lower left")
        success_chart = pages.chart(pages.svg(fig), "requests answered below HTTP 400, per variant and window")
        fig, ax = pages.figure(6.0, 3.2)
        ax.plot(x, [s["candidate_p99_ms"] for s in steps], "o-", color=pages.CANDIDATE_COLOR, label="candidate p99")
        stable_p99 = [s.get("stable_p99_ms") for s in steps]
        ax.plot(
            x, [np.nan if v is None else v for v in stable_p99], "s--", color=pages.STABLE_COLOR, label="stable p99"
        )
        ax.plot(x, [s["p99_bound_ms"] for s in steps], "_", ms=24, mew=2, color=FAIL, label="bound")
        ax.set_xticks(x, names)
        ax.set_ylabel("ms")
        ax.set_title("Latency per window against its bound")
        ax.set_ylim(0, max([s["p99_bound_ms"] for s in steps] + [s["candidate_p99_ms"] for s in steps]) * 1.35)
        ax.legend(loc="upper left", ncols=3)
        latency_chart = pages.chart(
            pages.svg(fig),
            "bound = max(ratio x stable p99, stable p99 + slack); the verdict counts requests over it (Fisher test)",
        )
        sections.append(
            Section(
                "windows",
                "Candidate vs stable, per window",
                f'<div class="charts">{success_chart}{latency_chart}</div>',
            )
        )
    rows, classes = [], []
    for s in steps:
        rows.append(
            [
                esc(s["stage"]),
                f"{s['requests']:,}",
                f"{s['candidate_requests']:,}",
                _pct(s["success_rate"]),
                _pct(s.get("stable_success_rate")),
                _ms(s["candidate_p99_ms"]),
                _ms(s.get("stable_p99_ms")),
                _ms(s["p99_bound_ms"]),
                _num(s.get("psi")),
                f"{_num(s['churn_shift'])} / {_num(s['churn_bound'])}",
                f"<strong>{esc(s['verdict'])}</strong>",
                esc(s.get("reason", "")),
            ]
        )
        classes.append("fail" if s["verdict"] != "pass" else "")
    table = pages.table(
        [
            "window",
            "requests",
            "candidate",
            "cand. success",
            "stable success",
            "cand. p99",
            "stable p99",
            "p99 bound",
            "score PSI",
            "flips or churn Δ / bound",
            "verdict",
            "why",
        ],
        rows,
        classes,
    )
    sections.append(Section("figures", "Every window's figures", table if steps else "<p>No windows.</p>"))
    shadow = next((s for s in steps if s["stage"] == "shadow"), None)
    if shadow is not None:
        fig, ax = pages.figure(5.0, 2.8)
        figures = [("score PSI", shadow.get("psi") or 0.0, cfg.get("shadow_psi_max", 0.1))]
        figures.append(("decision flips", shadow["churn_shift"], shadow["churn_bound"]))
        labels = [f[0] for f in figures]
        colors = [PASS if value <= bound else FAIL for _, value, bound in figures]
        ax.barh(labels, [f[1] for f in figures], color=colors)
        ax.scatter([f[2] for f in figures], labels, marker="|", s=400, color="black", zorder=3, label="bound")
        for label, value, bound in figures:
            ax.annotate(f"{value:.3f} (bound {bound:.3f})", (value, label), xytext=(4, 8), textcoords="offset points")
        ax.set_xlim(0, max(max(f[1], f[2]) for f in figures) * 1.6)
        ax.set_title("Shadow: the same requests, scored by both")
        ax.legend(loc="upper right")
        body = pages.chart(
            pages.svg(fig),
            f"score PSI {_num(shadow.get('psi'))} (max {cfg.get('shadow_psi_max', '-')}): above it, train/serve skew; "
            f"decision flips {_pct(shadow['churn_shift'])} of joined requests (bound {_pct(shadow['churn_bound'])})",
        )
    else:
        body = "<p>No shadow window (skipped, or the rollout stopped before it).</p>"
    sections.append(Section("shadow", "Shadow: score PSI and decision flips", body))
    check_ids = list(dict.fromkeys(c for s in steps for c in s.get("checks", {})))
    check_rows = []
    for s in steps:
        cells = []
        for c in check_ids:
            verdict = s.get("checks", {}).get(c)
            color = {"pass": PASS, "fail": FAIL}.get(verdict or "", SKIP)
            cells.append(f'<span style="color:{color};font-weight:600">{esc(verdict or "-")}</span>')
        check_rows.append([esc(s["stage"]), *cells])
    matrix = pages.table(["window", *(CHECK_NAMES.get(c, c) for c in check_ids)], check_rows, classes)
    sections.append(
        Section("checks", "Each window check's verdict", matrix if check_ids else "<p>No checks judged.</p>")
    )
    config_rows = [[f"<code>{esc(k)}</code>", esc(v)] for k, v in sorted(cfg.items())]
    sections.append(Section("config", "Thresholds of this rollout", pages.table(["setting", "value"], config_rows)))
    return pages.page("Rollout: shadow -> canary -> promote or roll back", subtitle, sections)


def write_beside(report: dict[str, Any], record_path: Path) -> str:
    """Write rollout.html beside the record; the one line to print, whether or not it could be drawn."""
    from src import atomic

    target = record_path.with_name(PAGE_FILE)
    try:
        atomic.write_text(target, render(report))
    except (ImportError, OSError, ValueError, KeyError, TypeError) as exc:
        return f"page: not drawn ({type(exc).__name__}: {exc}); the record {record_path} stands"
    return f"page: {target}"
