"""One rollout, two engines: the log-based analysis and the cluster's PromQL agree on every window.

With ROLLOUT_ANALYSIS=prometheus each window is judged by the PromQL checks
the Argo/Flagger export carries, against the stack's real Prometheus, and by
the log-based analysis on the very same traffic. A healthy candidate passes
both everywhere; a 500-answering and a slow one fail both, at the same stage.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.settings import StackSettings
from src import exits
from tests.deploy.test_rollout import (  # noqa: F401 - the rollout tests' gated models, reused as fixtures
    FAST,
    _rollout,
    baseline,
    customers_df,
    healthy_candidate,
    prod,
    stable_dir,
    stack_cfg,
)

CASES = [
    ({}, False, exits.OK),
    ({"FAULT_ERROR_RATE": "0.5"}, True, exits.NO),
    ({"FAULT_DELAY_S": "0.02"}, True, exits.NO),
]


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _table(name: str, steps: list[dict]) -> str:
    lines = [f"{name}: stage | logs: cand. success p99/bound -> verdict | promql: cand. success latency z -> verdict"]
    for s in steps:
        p = s["prometheus"]
        lines.append(
            f"  {s['stage']:<11} | {s['candidate_requests']} {s['success_rate']:.1%}"
            f" {s['candidate_p99_ms']:.1f}/{s['p99_bound_ms']:.1f} ms -> {s['log_verdict']}"
            f" | {_fmt(p['candidate_requests'], '.0f')} {_fmt(p['success_rate'], '.1%')}"
            f" z {_fmt(p['latency_z'], '.2f')} -> {p['verdict']} {p['reason']}"
        )
    return "\n".join(lines)


@pytest.mark.parametrize(("fault", "skip_shadow", "expected"), CASES, ids=["healthy", "answering-500s", "slow"])
def test_log_and_promql_engines_agree_on_every_window(
    stack_cfg: StackSettings,  # noqa: F811
    prod: Path,  # noqa: F811
    healthy_candidate: Path,  # noqa: F811
    stable_dir: Path,  # noqa: F811
    fault: dict,
    skip_shadow: bool,
    expected: int,
) -> None:
    app = "deploy.drivers.faulty:app" if fault else "app.main:app"
    cfg = stack_cfg.model_copy(
        update={"candidate_model": healthy_candidate, "candidate_app": app, "candidate_env": fault, "prometheus": True}
    )
    # 100 candidate requests a window, not 40: the PromQL latency check reads shares of a histogram's edges,
    # and a few slow requests among 40 are a large share.
    rollout = FAST.model_copy(
        update={"analysis": "prometheus", "skip_shadow": skip_shadow, "min_requests": 100, "window_requests": 400}
    )
    code, report = _rollout(cfg, prod, stable_dir / "snapshot.csv", rollout)
    table = _table(" ".join(f"{k}={v}" for k, v in fault.items()) or "healthy", report["steps"])
    print(table)
    assert code == expected, f"{report['reason']}\n{table}"
    for step in report["steps"]:
        verdicts = step["log_verdict"], step["prometheus"]["verdict"]
        assert verdicts[0] == verdicts[1], f"the engines disagree at {step['stage']}:\n{table}"
