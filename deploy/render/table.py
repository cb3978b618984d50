"""The rollout's terminal table: one row per window, and under it what the PromQL engine said."""

from __future__ import annotations

from deploy.rules.window import StepResult

HEADER = (
    f"{'stage':<12}{'requests':>9}{'cand.':>7}{'success':>9}{'p99 ms':>8}{'bound':>8}{'tail':>7}"
    f"{'PSI':>7}{'churn Δ':>9}  verdict"
)


def row(r: StepResult) -> str:
    psi = f"{r.psi:.3f}" if r.psi is not None else "-"
    return (
        f"{r.stage:<12}{r.requests:>9}{r.candidate_requests:>7}{r.success_rate:>8.1%} {r.candidate_p99_ms:>7.1f}"
        f"{r.p99_bound_ms:>8.1f}{r.candidate_tail:>7.1%}{psi:>7}{r.churn_shift:>9.3f}  {r.verdict}"
        f"{' (' + r.reason + ')' if r.reason else ''}"
    )


def prometheus_row(r: StepResult) -> str:
    """The PromQL engine's figures under the log-based row, and what the logs alone would have said."""
    p = r.prometheus or {}

    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    return (
        f"{'  promql':<12}{fmt(p.get('candidate_requests'), '.0f'):>16}{fmt(p.get('success_rate'), '.1%'):>9}"
        f" {fmt(p.get('candidate_p99_ms'), '.1f'):>7}{fmt(p.get('p99_bound_ms'), '.1f'):>8}"
        f"{'z ' + fmt(p.get('latency_z'), '.1f'):>7}"
        f"  {p.get('verdict')} (logs alone: {r.log_verdict})"
    )
