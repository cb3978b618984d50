"""The rollout controller: shadow -> canary steps -> promote, or roll back.

What Flagger or Argo Rollouts do on Kubernetes, done with nginx on one
machine. After admission (deploy/control/candidate.py) it starts the local
stack with the stable and candidate artifacts, drives replayed customers
through nginx, judges every window with the declared window checks
(deploy/rules/window.py; with ROLLOUT_ANALYSIS=prometheus the PromQL engine
judges the checks it can), watches every process of the stack, and either
promotes the candidate (deploy/control/promotion.py: it becomes stable and
prod_metrics.json ratchets to its record) or puts all traffic back on stable,
with a one-line reason and a rollout.json. Its command is `python -m deploy.rollout`.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from deploy.control import promotion
from deploy.control.candidate import check_candidate, ratchet_allows, verify_measured
from deploy.drivers.stack import ProcessDied, Stack
from deploy.drivers.traffic import customers, replay
from deploy.render import page as rollout_page
from deploy.render import table
from deploy.rules import window as windows
from deploy.rules.analysis import LogCursor, VariantWindow
from deploy.rules.window import StepResult
from deploy.settings import RolloutSettings, StackSettings
from src import atomic, config, exits
from src.record import ArtifactRecord


class RolloutFailed(Exception):
    """A window failed its analysis or stayed inconclusive; the message is the one-line reason."""


@dataclass
class Rollout:
    stack: Stack
    cfg: RolloutSettings
    bodies: list[dict[str, Any]]
    out: Callable[[str], None] = print
    results: list[StepResult] = field(default_factory=list)
    reference_ms: list[float] | None = None  # stable's latencies in the last window where it had enough
    started: float = field(default_factory=time.time)

    def supervise(self, stage: str) -> None:
        """A dying stable or nginx ends the rollout: users must never wait on a dead process."""
        for name in ("nginx", "stable"):
            if not self.stack.alive(name):
                raise ProcessDied(name, f"{stage}: the {name} process died")

    def window(self, stage: str, target: int) -> tuple[VariantWindow, VariantWindow, int]:
        """Drive (or wait for) traffic until the candidate has enough requests to judge."""
        logs = self.stack.cfg.stack_dir
        cursors = {v: LogCursor(logs / f"{v}.log") for v in ("stable", "candidate")}
        windows = {v: VariantWindow() for v in cursors}
        sent, waits = 0, 0

        def collect() -> None:
            for variant, cursor in cursors.items():
                windows[variant].add(cursor.read())

        while True:
            self.supervise(stage)
            if self.cfg.traffic == "replay" and sent < self.cfg.max_requests:
                batch = min(100, self.cfg.max_requests - sent)
                for _ in replay(self.stack.cfg.url, self.bodies[sent % len(self.bodies) :] + self.bodies, batch):
                    pass
                sent += batch
            else:
                if waits > self.cfg.inconclusive_retries:
                    raise RolloutFailed(
                        f"{stage}: inconclusive, {windows['candidate'].requests} candidate requests "
                        f"(need {self.cfg.min_requests}) after {waits} waits: not enough traffic to judge"
                    )
                if waits:
                    self.out(f"  {stage}: {windows['candidate'].requests} candidate requests so far; waiting")
                time.sleep(self.cfg.inconclusive_wait_s)
                waits += 1
            collect()
            enough = windows["candidate"].requests >= self.cfg.min_requests
            if enough and (sent >= target or self.cfg.traffic == "none"):
                time.sleep(0.2)  # mirrored requests finish after the user's
                collect()
                return windows["stable"], windows["candidate"], sent

    def judge(
        self, stage: str, stable: VariantWindow, candidate: VariantWindow
    ) -> tuple[StepResult, windows.WindowVerdict]:
        """The log engine's verdict on the window; stable's latency is kept as the reference while it has enough."""
        if stable.requests >= self.cfg.min_requests:
            self.reference_ms = list(stable.latencies_ms or [])
        reference = self.reference_ms or list(stable.latencies_ms or [])
        figures = windows.measure(stage, stable, candidate, self.cfg, reference)
        verdict = windows.judge(stage, figures, self.cfg)
        return windows.step_result(stage, figures, verdict), verdict

    def step(self, stage: str, percent: int | None = None) -> None:
        self.stack.set_stage("shadow" if stage == "shadow" else "canary", percent)
        target = self.cfg.shadow_requests if stage == "shadow" else self.cfg.window_requests
        opened = time.time()
        stable, candidate, _ = self.window(stage, target)
        result, logs = self.judge(stage, stable, candidate)
        if self.cfg.analysis == "prometheus":
            result = self.prometheus_verdict(result, logs, opened)
        self.results.append(result)
        self.out(table.row(result))
        if result.prometheus is not None:
            self.out(table.prometheus_row(result))
        if result.verdict != "pass":
            raise RolloutFailed(f"{stage}: {result.reason}")

    def prometheus_verdict(self, result: StepResult, logs: windows.WindowVerdict, opened: float) -> StepResult:
        """The checks PromQL can judge (success, latency) replaced by its verdict, by id; both engines kept."""
        from deploy.drivers import prom_engine  # only with ROLLOUT_ANALYSIS=prometheus

        for _ in range(self.cfg.inconclusive_retries + 1):
            judged = prom_engine.judge(self.stack.cfg.prometheus_url, self.cfg, opened, self.started)
            if not judged.inconclusive:
                break
            time.sleep(self.cfg.inconclusive_wait_s)
        verdict = logs.replaced(judged.outcomes, judged.inconclusive)
        return replace(
            result,
            verdict="pass" if verdict.passed else "fail",
            reason=verdict.reason,
            log_verdict=result.verdict,
            prometheus=asdict(judged.figures),
        )


def run(
    stack_cfg: StackSettings,
    cfg: RolloutSettings,
    prod_path: Path,
    report_path: Path,
    snapshot: Path | None = None,
    out: Callable[[str], None] = print,
) -> int:
    """The whole rollout; leaves the stack running (on stable, or the promoted candidate)."""
    candidate = check_candidate(stack_cfg.candidate_model)
    if candidate.gate is not None:  # the tolerance the candidate's own gate applied
        cfg = cfg.model_copy(update={"regression_tolerance": candidate.gate.regression_tolerance})
    cfg.check()
    if cfg.analysis == "prometheus" and not stack_cfg.prometheus:
        raise ValueError("ROLLOUT_ANALYSIS=prometheus needs the stack's Prometheus: unset PROMETHEUS=false")
    snapshot = snapshot or config.settings().churn_data
    verify_measured(stack_cfg.candidate_model, candidate, cfg.gate_data or snapshot)
    allowed, why = ratchet_allows(candidate, prod_path, cfg.regression_tolerance)
    report: dict[str, Any] = {
        "stable": str(stack_cfg.stable_model),
        "candidate": str(stack_cfg.candidate_model),
        "config": cfg.model_dump(mode="json"),
    }
    out("rollout thresholds:")
    for key, value in cfg.model_dump().items():
        out(f"  {key:<22} {value}")
    if not allowed:
        return _finish(report, report_path, "refused", f"ratchet: {why}", out, exits.NO)
    bodies = customers(snapshot)
    stack = Stack(stack_cfg.model_copy(update={"mode": "stable"})).up()
    try:
        return _drive(stack, stack_cfg, cfg, candidate, prod_path, report, report_path, bodies, out)
    finally:
        stack.detach()


def _drive(
    stack: Stack,
    stack_cfg: StackSettings,
    cfg: RolloutSettings,
    candidate: ArtifactRecord,
    prod_path: Path,
    report: dict[str, Any],
    report_path: Path,
    bodies: list[dict[str, Any]],
    out: Callable[[str], None],
) -> int:
    rollout = Rollout(stack, cfg, bodies, out)
    out(table.HEADER)
    outcome, reason, code = "rolled_back", "", exits.NO
    try:
        if not cfg.skip_shadow:
            rollout.step("shadow")
        for percent in cfg.steps:
            rollout.step(f"canary {percent}%", percent)
        allowed, why = ratchet_allows(candidate, prod_path, cfg.regression_tolerance)
        if not allowed:
            raise RolloutFailed(f"ratchet: {why}")
        promotion.promote(
            stack, stack_cfg.candidate_model, candidate, prod_path, (cfg.drill_pause_at, cfg.drill_pause_s)
        )
        outcome, reason, code = "promoted", why, exits.OK
        if promotion.SIGNALS.pending:
            reason += "; a stop signal arrived during the promotion and waited for it to finish"
        out(f"promoted: the candidate now serves as stable; {prod_path.name} updated ({why})")
    except (RolloutFailed, promotion.PromoteFailed) as exc:
        reason = str(exc)
    except ProcessDied as exc:
        reason = f"{exc}; restarted it and put every user on stable"
    except KeyboardInterrupt:
        outcome, reason, code = "interrupted", "stopped by a signal", exits.INTERRUPTED
    finally:
        report["steps"] = [asdict(r) for r in rollout.results]
        if code != exits.OK:
            try:
                with promotion.SIGNALS.deferred():
                    repaired = promotion.settle_on_stable(stack)
                if repaired:
                    reason += f" ({', '.join(repaired)})"
            except (RuntimeError, TimeoutError, OSError, ValueError) as exc:
                reason += f"; putting users back on stable failed too ({exc}): run `make stack-status`"
    return _finish(report, report_path, outcome, reason, out, code, stack_cfg.port)


def _listening(port: int | None) -> bool:
    if port is None:
        return False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _finish(
    report: dict, path: Path, outcome: str, reason: str, out: Callable[[str], None], code: int, port: int | None = None
) -> int:
    """Write the report; say the stack keeps serving only when its nginx (`port`, None: never started) answers."""
    report.update(outcome=outcome, reason=reason)
    atomic.write_text(path, json.dumps(report, indent=2, sort_keys=True) + "\n")
    if code != exits.OK:
        stable = "; all traffic on stable" if port is not None else ""
        out(f"rollout {outcome.replace('_', ' ')}: {reason}{stable}")
    if _listening(port):
        out(f"report: {path}; the stack keeps serving, stop it with `make stack-down`")
    else:
        out(f"report: {path}; no stack is left running")
    out(rollout_page.write_beside(report, path))
    return code
