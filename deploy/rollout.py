"""Rollout controller: shadow -> canary steps -> promote, or roll back.

What Flagger or Argo Rollouts do on Kubernetes, done with nginx on one
machine. It starts the local stack with the stable and the gated candidate
artifact, drives replayed customers through nginx, judges every window from
the services' logs, and either promotes the candidate (it becomes stable and
prod_metrics.json ratchets to its metrics) or puts all traffic back on stable
and exits non-zero with a one-line reason.

    python -m deploy.rollout --stable PATH --candidate PATH   (make rollout)

Exit codes: 0 promoted; 1 rolled back or refused; 2 bad input; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from deploy.analysis import LogCursor, VariantWindow, churn_share_bound, probability_psi
from deploy.stack import Stack, StackSettings
from deploy.traffic import customers, replay
from src import artifacts, atomic, config, record
from src.record import ArtifactRecord

EXIT_PROMOTED, EXIT_ROLLED_BACK, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULT_TOLERANCE = 0.02  # used only when the candidate's gate had no baseline to record one


class RolloutSettings(BaseSettings):
    """Every threshold of the rollout, printed at start. Env: ROLLOUT_<NAME> (e.g. ROLLOUT_STEPS=10,50,100)."""

    model_config = SettingsConfigDict(env_prefix="ROLLOUT_", env_ignore_empty=True, frozen=True, extra="ignore")

    steps: Annotated[tuple[int, ...], NoDecode] = Field((5, 25, 50, 100), description="canary percentages, in order")
    window_requests: int = Field(300, description="requests replayed per window at least")
    max_requests: int = Field(4000, description="... and at most: a replay always ends")
    min_requests: int = Field(100, description="candidate requests a window needs to be judged at all")
    inconclusive_retries: int = Field(2, description="too few requests: wait this many more windows, then fail")
    inconclusive_wait_s: float = Field(2.0, description="seconds per inconclusive wait")
    min_success_rate: float = Field(0.99, description="share of candidate requests answered < 400")
    p99_ratio: float = Field(1.2, description="candidate p99 <= max(ratio x stable p99, stable p99 + slack)")
    p99_slack_ms: float = Field(5.0, description="the absolute p99 allowance, in ms")
    shadow_psi_max: float = Field(0.1, description="score PSI on identical requests above it: train/serve skew")
    churn_share_floor: float = Field(0.05, description="smallest allowed churn-share gap (3 SE when larger)")
    regression_tolerance: float = Field(
        DEFAULT_TOLERANCE, description="the gate's, read from the candidate's record (this is only a fallback)"
    )
    traffic: str = Field("replay", description="replay: drive snapshot customers; none: judge real traffic only")
    skip_shadow: bool = Field(False, description="go straight to the canary steps")
    analysis: str = Field(
        "logs", description="prometheus: success and p99 judged by the cluster's PromQL too (deploy/prom_judge.py)"
    )

    @field_validator("steps", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return tuple(int(x) for x in value.split(",")) if isinstance(value, str) else value

    def check(self) -> None:
        if not self.steps or any(not 0 < p <= 100 for p in self.steps) or list(self.steps) != sorted(self.steps):
            raise ValueError(f"steps must rise within 1..100, not {self.steps}")
        if self.steps[-1] != 100:
            raise ValueError("the last canary step must be 100 %: promotion follows it")
        if self.traffic not in ("replay", "none"):
            raise ValueError(f"traffic must be 'replay' or 'none', not {self.traffic!r}")
        if self.analysis not in ("logs", "prometheus"):
            raise ValueError(f"analysis must be 'logs' or 'prometheus', not {self.analysis!r}")
        if self.analysis not in ("logs", "prometheus"):
            raise ValueError(f"analysis must be 'logs' or 'prometheus', not {self.analysis!r}")


@dataclass
class StepResult:
    stage: str
    requests: int
    candidate_requests: int
    success_rate: float
    candidate_p99_ms: float
    p99_bound_ms: float
    psi: float | None
    churn_shift: float
    churn_bound: float
    verdict: str
    reason: str = ""
    log_verdict: str | None = None  # with analysis=prometheus: what each engine said on this window
    prometheus: dict[str, Any] | None = None


class RolloutFailed(Exception):
    """A window failed its analysis or stayed inconclusive; the message is the one-line reason."""


@dataclass
class Rollout:
    stack: Stack
    cfg: RolloutSettings
    bodies: list[dict[str, Any]]
    out: Callable[[str], None] = print
    results: list[StepResult] = field(default_factory=list)
    reference_p99_ms: float | None = None
    started: float = field(default_factory=time.time)

    def window(self, stage: str) -> tuple[VariantWindow, VariantWindow, int]:
        """Drive (or wait for) traffic until the candidate has enough requests to judge."""
        logs = self.stack.cfg.stack_dir
        cursors = {v: LogCursor(logs / f"{v}.log") for v in ("stable", "candidate")}
        windows = {v: VariantWindow() for v in cursors}
        sent, waits = 0, 0

        def collect() -> None:
            for variant, cursor in cursors.items():
                windows[variant].add(cursor.read())

        while True:
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
            time.sleep(0.2)  # mirrored requests finish after the user's
            collect()
            enough = windows["candidate"].requests >= self.cfg.min_requests
            if enough and (sent >= self.cfg.window_requests or self.cfg.traffic == "none"):
                return windows["stable"], windows["candidate"], sent

    def judge(self, stage: str, stable: VariantWindow, candidate: VariantWindow, sent: int) -> StepResult:
        cfg = self.cfg
        if stable.requests >= cfg.min_requests:
            self.reference_p99_ms = stable.p99_ms
        reference = self.reference_p99_ms if self.reference_p99_ms is not None else stable.p99_ms
        p99_bound = max(cfg.p99_ratio * reference, reference + cfg.p99_slack_ms)
        if stage == "shadow":
            joined = sorted(set(stable.probabilities) & set(candidate.probabilities))
            s_probs = [stable.probabilities[r] for r in joined]
            c_probs = [candidate.probabilities[r] for r in joined]
            psi = probability_psi(s_probs, c_probs)
            # Each service's own decision, as it answered (its own DECISION_THRESHOLD), on the same request.
            flips = sum(stable.decisions[r] != candidate.decisions[r] for r in joined)
            shift = flips / max(len(joined), 1)
            churn_bound = cfg.churn_share_floor
        else:
            psi = None
            shift = abs(candidate.churn_share - stable.churn_share) if stable.scored else 0.0
            churn_bound = churn_share_bound(stable, candidate, cfg.churn_share_floor)
        problems = []
        if candidate.success_rate < cfg.min_success_rate:
            problems.append(f"candidate success {candidate.success_rate:.1%} < {cfg.min_success_rate:.0%}")
        if candidate.p99_ms > p99_bound:
            problems.append(f"candidate p99 {candidate.p99_ms:.1f} ms > {p99_bound:.1f} ms")
        if psi is not None and psi > cfg.shadow_psi_max:
            problems.append(f"score PSI {psi:.3f} > {cfg.shadow_psi_max} on identical requests (train/serve skew?)")
        if shift > churn_bound:
            problems.append(f"churn-share shift {shift:.3f} > {churn_bound:.3f}")
        return StepResult(
            stage=stage,
            requests=stable.requests + candidate.requests if stage != "shadow" else stable.requests,
            candidate_requests=candidate.requests,
            success_rate=candidate.success_rate,
            candidate_p99_ms=candidate.p99_ms,
            p99_bound_ms=p99_bound,
            psi=psi,
            churn_shift=shift,
            churn_bound=churn_bound,
            verdict="fail" if problems else "pass",
            reason="; ".join(problems),
        )

    def step(self, stage: str, percent: int | None = None) -> None:
        self.stack.set_stage("shadow" if stage == "shadow" else "canary", percent)
        opened = time.time()
        result = self.judge(stage, *self.window(stage))
        if self.cfg.analysis == "prometheus":
            result = self.prometheus_verdict(result, opened)
        self.results.append(result)
        self.out(_row(result))
        if result.prometheus is not None:
            self.out(_prometheus_row(result))
        if result.verdict != "pass":
            raise RolloutFailed(f"{stage}: {result.reason}")

    def prometheus_verdict(self, result: StepResult, opened: float) -> StepResult:
        """Success and p99 from the PromQL checks; PSI and churn share stay log-based. Both verdicts kept."""
        from deploy import prom_judge  # only with ROLLOUT_ANALYSIS=prometheus

        for _ in range(self.cfg.inconclusive_retries + 1):
            verdict = prom_judge.judge(self.stack.cfg.prometheus_url, self.cfg, opened, self.started)
            if verdict.verdict != "inconclusive":
                break
            time.sleep(self.cfg.inconclusive_wait_s)
        problems = prom_judge.other_log_problems(result.reason)
        if verdict.verdict == "inconclusive":
            problems.insert(0, f"inconclusive: {verdict.reason}")
        elif verdict.reason:
            problems.insert(0, verdict.reason)
        return replace(
            result,
            verdict="fail" if problems else "pass",
            reason="; ".join(problems),
            log_verdict=result.verdict,
            prometheus=asdict(verdict),
        )


HEADER = (
    f"{'stage':<10}{'requests':>9}{'cand.':>7}{'success':>9}{'p99 ms':>8}{'bound':>8}{'PSI':>7}{'churn Δ':>9}  verdict"
)


def _row(r: StepResult) -> str:
    psi = f"{r.psi:.3f}" if r.psi is not None else "-"
    return (
        f"{r.stage:<12}{r.requests:>9}{r.candidate_requests:>7}{r.success_rate:>8.1%} {r.candidate_p99_ms:>7.1f}"
        f"{r.p99_bound_ms:>8.1f}{psi:>7}{r.churn_shift:>9.3f}  {r.verdict}{' (' + r.reason + ')' if r.reason else ''}"
    )


def _prometheus_row(r: StepResult) -> str:
    """The PromQL engine's figures under the log-based row, and what the logs alone would have said."""
    p = r.prometheus or {}

    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    return (
        f"{'  promql':<12}{fmt(p.get('candidate_requests'), '.0f'):>16}{fmt(p.get('success_rate'), '.1%'):>9}"
        f" {fmt(p.get('candidate_p99_ms'), '.1f'):>7}{fmt(p.get('p99_bound_ms'), '.1f'):>8}"
        f"  {p.get('verdict')} (logs alone: {r.log_verdict})"
    )


def check_candidate(model: Path) -> ArtifactRecord:
    """Refuse a candidate that did not pass the gate or is not the file the gate measured."""
    return artifacts.verify(model, require_gate=True)


def ratchet_allows(candidate: ArtifactRecord, prod_path: Path, tolerance: float) -> tuple[bool, str]:
    if not prod_path.is_file():
        return True, "no production baseline yet"
    prod_auc = record.read(prod_path).holdout_auc
    floor = round(prod_auc - tolerance, 4)
    ok = candidate.holdout_auc >= floor
    return ok, f"candidate AUC {candidate.holdout_auc} {'>=' if ok else '<'} production {prod_auc} - {tolerance}"


def promote(stack: Stack, candidate_model: Path, candidate: ArtifactRecord, prod_path: Path) -> None:
    """Candidate becomes stable; prod_metrics.json moves to its record, the old one kept for rollback."""
    stack.restart_service("stable", candidate_model)
    stack.set_stage("stable")
    if prod_path.is_file():
        atomic.write_bytes(prod_path.with_name(prod_path.stem + ".previous.json"), prod_path.read_bytes())
    record.write(candidate, prod_path)


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
        return _finish(report, report_path, "refused", f"ratchet: {why}", out, EXIT_ROLLED_BACK)
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
    out(HEADER)
    try:
        if not cfg.skip_shadow:
            rollout.step("shadow")
        for percent in cfg.steps:
            rollout.step(f"canary {percent}%", percent)
        allowed, why = ratchet_allows(candidate, prod_path, cfg.regression_tolerance)
        if not allowed:
            raise RolloutFailed(f"ratchet: {why}")
        promote(stack, stack_cfg.candidate_model, candidate, prod_path)
        report["steps"] = [asdict(r) for r in rollout.results]
        out(f"promoted: the candidate now serves as stable; {prod_path.name} updated ({why})")
        return _finish(report, report_path, "promoted", why, out, EXIT_PROMOTED)
    except RolloutFailed as exc:
        stack.set_stage("stable")
        report["steps"] = [asdict(r) for r in rollout.results]
        return _finish(report, report_path, "rolled_back", str(exc), out, EXIT_ROLLED_BACK)
    except KeyboardInterrupt:
        stack.set_stage("stable")
        report["steps"] = [asdict(r) for r in rollout.results]
        return _finish(report, report_path, "interrupted", "stopped by a signal", out, EXIT_INTERRUPTED)


def _finish(report: dict, path: Path, outcome: str, reason: str, out: Callable[[str], None], code: int) -> int:
    """Write the report and leave the stack serving (on stable, or on the promoted candidate)."""
    report.update(outcome=outcome, reason=reason)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps(report, indent=2, sort_keys=True) + "\n")
    if code != EXIT_PROMOTED:
        out(f"rollout {outcome.replace('_', ' ')}: {reason}; all traffic on stable")
    out(f"report: {path}; the stack keeps serving, stop it with `make stack-down`")
    return code


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Shadow -> canary -> promote, or roll back.")
    parser.add_argument("--stable", type=Path, help="stable artifact (default: $STABLE_MODEL)")
    parser.add_argument("--candidate", type=Path, help="gated candidate artifact (default: $CANDIDATE_MODEL)")
    parser.add_argument("--data", type=Path, default=None, help="snapshot whose customers are replayed")
    parser.add_argument("--report", type=Path, default=None, help="JSON report (default: STACK_DIR/rollout.json)")
    parser.add_argument("--skip-shadow", action="store_true", help="go straight to the canary steps")
    parser.add_argument("--traffic", choices=["replay", "none"], default=None)
    args = parser.parse_args(argv)
    stack_cfg = StackSettings()
    if args.stable:
        stack_cfg = stack_cfg.model_copy(update={"stable_model": args.stable})
    if args.candidate:
        stack_cfg = stack_cfg.model_copy(update={"candidate_model": args.candidate})
    cfg = RolloutSettings()
    if args.skip_shadow:
        cfg = cfg.model_copy(update={"skip_shadow": True})
    if args.traffic:
        cfg = cfg.model_copy(update={"traffic": args.traffic})
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run(
            stack_cfg,
            cfg,
            config.settings().prod_metrics,
            args.report or stack_cfg.stack_dir / "rollout.json",
            args.data,
        )
    except (ValueError, RuntimeError, TimeoutError, FileNotFoundError) as exc:
        print(f"rollout: {exc}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
