"""Rollout controller: shadow -> canary steps -> promote, or roll back.

What Flagger or Argo Rollouts do on Kubernetes, done with nginx on one
machine. It re-measures the gated candidate on the holdout and refuses a
record that does not describe its model, starts the local stack with the
stable and candidate artifacts, drives replayed customers through nginx,
judges every window from the services' logs, watches every process of the
stack, and either promotes the candidate (deploy/promote.py: it becomes
stable and prod_metrics.json ratchets to its record) or puts all traffic back
on stable and exits non-zero with a one-line reason and a rollout.json.

    python -m deploy.rollout --stable PATH --candidate PATH   (make rollout)
    python -m deploy.rollout --recover                        (finish or undo an interrupted promotion)

Exit codes: 0 promoted; 1 rolled back (or held back by the ratchet); 2 bad input;
3 refused: the candidate is not a loadable, gated model its record describes,
said in one line before any process starts; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from deploy import promote as promotion
from deploy import rollout_page
from deploy.analysis import LatencyVerdict, LogCursor, VariantWindow, churn_share_bound, probability_psi
from deploy.stack import ProcessDied, Stack, StackSettings
from deploy.traffic import customers, replay
from src import artifacts, atomic, config, data, metrics, record, signing
from src.features import build_features
from src.gate import contract as gate
from src.record import ArtifactRecord
from src.train import split

EXIT_PROMOTED, EXIT_ROLLED_BACK, EXIT_INPUT, EXIT_REFUSED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DEFAULT_TOLERANCE = 0.02  # used only when the candidate's gate had no baseline to record one
MEASURE_TOLERANCE = 1e-4  # records are rounded to 4 places


class RolloutSettings(BaseSettings):
    """Every threshold of the rollout, printed at start. Env: ROLLOUT_<NAME> (e.g. ROLLOUT_STEPS=10,50,100)."""

    model_config = SettingsConfigDict(env_prefix="ROLLOUT_", env_ignore_empty=True, frozen=True, extra="ignore")

    steps: Annotated[tuple[int, ...], NoDecode] = Field((5, 25, 50, 100), description="canary percentages, in order")
    window_requests: int = Field(300, description="requests replayed per canary window at least")
    shadow_requests: int = Field(
        1500, description="requests replayed in shadow: enough to see a candidate slow on 3 % of requests"
    )
    max_requests: int = Field(4000, description="... and at most: a replay always ends")
    min_requests: int = Field(100, description="candidate requests a window needs to be judged at all")
    inconclusive_retries: int = Field(2, description="too few requests: wait this many more windows, then fail")
    inconclusive_wait_s: float = Field(2.0, description="seconds per inconclusive wait")
    min_success_rate: float = Field(0.99, description="share of candidate requests answered < 400")
    p99_ratio: float = Field(1.2, description="latency bound: max(ratio x stable p99, stable p99 + slack)")
    p99_slack_ms: float = Field(5.0, description="the absolute latency allowance, in ms")
    latency_alpha: float = Field(0.001, description="significance of 'the candidate is slower' (per window)")
    tail_excess_min: float = Field(0.01, description="smallest excess share of candidate requests over the bound")
    shadow_psi_max: float = Field(0.1, description="score PSI on identical requests above it: train/serve skew")
    churn_share_floor: float = Field(0.05, description="smallest allowed churn-share gap (3 SE when larger)")
    regression_tolerance: float = Field(
        DEFAULT_TOLERANCE, description="the gate's, read from the candidate's record (this is only a fallback)"
    )
    traffic: str = Field("replay", description="replay: drive snapshot customers; none: judge real traffic only")
    skip_shadow: bool = Field(False, description="go straight to the canary steps")
    gate_data: Path | None = Field(
        None, description="the snapshot the candidate was gated on, to re-measure it (default: CHURN_DATA)"
    )
    drill_pause_at: str | None = Field(
        None, description="fault drill: pause the promotion at this step (deploy/promote.py) for drill_pause_s"
    )
    drill_pause_s: float = Field(30.0, description="fault drill: how long the promotion pauses")
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


@dataclass
class StepResult:
    stage: str
    requests: int
    candidate_requests: int
    success_rate: float
    candidate_p99_ms: float
    p99_bound_ms: float
    candidate_tail: float
    stable_tail: float
    psi: float | None
    churn_shift: float
    churn_bound: float
    verdict: str
    reason: str = ""
    log_verdict: str | None = None  # with analysis=prometheus: what each engine said on this window
    prometheus: dict[str, Any] | None = None
    stable_success_rate: float | None = None  # stable's side of the window, for the rollout page
    stable_p99_ms: float | None = None
    checks: dict[str, str] = field(default_factory=dict)  # each window check: "pass" / "fail"


class CandidateRefused(ValueError):
    """The candidate cannot be rolled out at all (ungated, tampered, unloadable, mis-measured); nothing started."""


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

    def judge(self, stage: str, stable: VariantWindow, candidate: VariantWindow, sent: int) -> StepResult:
        cfg = self.cfg
        if stable.requests >= cfg.min_requests:
            self.reference_ms = list(stable.latencies_ms or [])
        reference = self.reference_ms or list(stable.latencies_ms or []) or [0.0]
        latency = LatencyVerdict.judge(
            reference,
            list(candidate.latencies_ms or []) or [0.0],
            cfg.p99_ratio,
            cfg.p99_slack_ms,
            cfg.latency_alpha,
            cfg.tail_excess_min,
        )
        if stage == "shadow":
            stable_p, candidate_p = stable.probabilities or {}, candidate.probabilities or {}
            joined = sorted(set(stable_p) & set(candidate_p))
            psi = probability_psi([stable_p[r] for r in joined], [candidate_p[r] for r in joined])
            # Each service's own decision, as it answered (its own DECISION_THRESHOLD), on the same request.
            stable_d, candidate_d = stable.decisions or {}, candidate.decisions or {}
            shift = sum(stable_d[r] != candidate_d[r] for r in joined) / max(len(joined), 1)
            churn_bound = cfg.churn_share_floor
        else:
            psi = None
            shift = abs(candidate.churn_share - stable.churn_share) if stable.scored else 0.0
            churn_bound = churn_share_bound(stable, candidate, cfg.churn_share_floor)
        problems = []
        checks = {"success": candidate.success_rate >= cfg.min_success_rate, "latency": not latency.failed}
        if candidate.success_rate < cfg.min_success_rate:
            problems.append(f"candidate success {candidate.success_rate:.1%} < {cfg.min_success_rate:.0%}")
        if latency.failed:
            problems.append(latency.failed)
        if psi is not None:
            checks["score_psi"] = psi <= cfg.shadow_psi_max
        if psi is not None and psi > cfg.shadow_psi_max:
            problems.append(f"score PSI {psi:.3f} > {cfg.shadow_psi_max} on identical requests (train/serve skew?)")
        checks["decision_flips" if stage == "shadow" else "churn_share"] = shift <= churn_bound
        if shift > churn_bound:
            problems.append(f"churn-share shift {shift:.3f} > {churn_bound:.3f}")
        return StepResult(
            stage=stage,
            requests=stable.requests + candidate.requests if stage != "shadow" else stable.requests,
            candidate_requests=candidate.requests,
            success_rate=candidate.success_rate,
            candidate_p99_ms=latency.candidate_p99_ms,
            p99_bound_ms=latency.bound_ms,
            candidate_tail=latency.candidate_tail,
            stable_tail=latency.stable_tail,
            psi=psi,
            churn_shift=shift,
            churn_bound=churn_bound,
            verdict="fail" if problems else "pass",
            reason="; ".join(problems),
            stable_success_rate=stable.success_rate if stable.requests else None,
            stable_p99_ms=rollout_page.p99(stable.latencies_ms),
            checks={name: "pass" if ok else "fail" for name, ok in checks.items()},
        )

    def step(self, stage: str, percent: int | None = None) -> None:
        self.stack.set_stage("shadow" if stage == "shadow" else "canary", percent)
        target = self.cfg.shadow_requests if stage == "shadow" else self.cfg.window_requests
        opened = time.time()
        result = self.judge(stage, *self.window(stage, target))
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
    f"{'stage':<12}{'requests':>9}{'cand.':>7}{'success':>9}{'p99 ms':>8}{'bound':>8}{'tail':>7}"
    f"{'PSI':>7}{'churn Δ':>9}  verdict"
)


def _row(r: StepResult) -> str:
    psi = f"{r.psi:.3f}" if r.psi is not None else "-"
    return (
        f"{r.stage:<12}{r.requests:>9}{r.candidate_requests:>7}{r.success_rate:>8.1%} {r.candidate_p99_ms:>7.1f}"
        f"{r.p99_bound_ms:>8.1f}{r.candidate_tail:>7.1%}{psi:>7}{r.churn_shift:>9.3f}  {r.verdict}"
        f"{' (' + r.reason + ')' if r.reason else ''}"
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
    """Refuse a candidate that did not pass the gate, is not the file the gate measured, cannot be loaded,
    or (TRUSTED_* set) is not signed by the trusted signer.

    Loaded through the service's own boundary (src.artifacts.load_verified), so a candidate the
    service would refuse at startup is refused here, before the stack starts.
    """
    try:
        signing.verify_trusted(model)
        _, rec = artifacts.load_verified(model, require_gate=True)
    except artifacts.ArtifactError as exc:
        raise CandidateRefused(str(exc)) from None
    return rec


def verify_measured(model: Path, rec: ArtifactRecord, snapshot: Path) -> None:
    """Re-score the candidate on its holdout; refuse a record that does not describe it, or breaks the contract.

    The record is only a claim: an edited AUC of 0.999 with the sha untouched
    would otherwise be promoted and become a baseline no honest model meets.
    """
    if artifacts.sha256_file(snapshot) != rec.data_sha256:
        raise ValueError(
            f"the candidate was gated on another snapshot than {snapshot} (data sha256 "
            f"{rec.data_sha256[:12]}): pass the one it was gated on with ROLLOUT_GATE_DATA"
        )
    try:
        model_obj, _ = artifacts.load_verified(model, require_gate=True)
    except artifacts.ArtifactError as exc:
        raise CandidateRefused(str(exc)) from None
    X, y = build_features(data.load(snapshot))
    _, X_hold, _, y_hold = split(X, y)
    p = model_obj.predict_proba(X_hold)[:, 1]
    measured = {"holdout_auc": metrics.roc_auc(y_hold, p), "holdout_ece": metrics.expected_calibration_error(y_hold, p)}
    for key, value in measured.items():
        claimed = getattr(rec, key)
        if abs(claimed - value) > MEASURE_TOLERANCE:
            raise CandidateRefused(
                f"the record says {key} {claimed}, the model measures {value:.4f} on its holdout: "
                "refusing a record that does not describe its model"
            )
    auc, ece = measured["holdout_auc"], measured["holdout_ece"]
    if not gate.AUC_FLOOR <= auc <= gate.AUC_CEILING or ece > gate.ECE_MAX:
        raise CandidateRefused(f"measured AUC {auc:.4f} / ECE {ece:.4f} break the gate's contract: refusing")


def ratchet_allows(candidate: ArtifactRecord, prod_path: Path, tolerance: float) -> tuple[bool, str]:
    if not prod_path.is_file():
        return True, "no production baseline yet"
    prod_auc = record.read(prod_path).holdout_auc
    ok = gate.ratchet_allows(candidate.holdout_auc, prod_auc, tolerance)
    return ok, f"candidate AUC {candidate.holdout_auc} {'>=' if ok else '<'} production {prod_auc} - {tolerance}"


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
    outcome, reason, code = "rolled_back", "", EXIT_ROLLED_BACK
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
        outcome, reason, code = "promoted", why, EXIT_PROMOTED
        if promotion.SIGNALS.pending:
            reason += "; a stop signal arrived during the promotion and waited for it to finish"
        out(f"promoted: the candidate now serves as stable; {prod_path.name} updated ({why})")
    except (RolloutFailed, promotion.PromoteFailed) as exc:
        reason = str(exc)
    except ProcessDied as exc:
        reason = f"{exc}; restarted it and put every user on stable"
    except KeyboardInterrupt:
        outcome, reason, code = "interrupted", "stopped by a signal", EXIT_INTERRUPTED
    finally:
        report["steps"] = [asdict(r) for r in rollout.results]
        if code != EXIT_PROMOTED:
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
    if code != EXIT_PROMOTED:
        stable = "; all traffic on stable" if port is not None else ""
        out(f"rollout {outcome.replace('_', ' ')}: {reason}{stable}")
    if _listening(port):
        out(f"report: {path}; the stack keeps serving, stop it with `make stack-down`")
    else:
        out(f"report: {path}; no stack is left running")
    out(rollout_page.write_beside(report, path))
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Shadow -> canary -> promote, or roll back.")
    parser.add_argument("--stable", type=Path, help="stable artifact (default: $STABLE_MODEL)")
    parser.add_argument("--candidate", type=Path, help="gated candidate artifact (default: $CANDIDATE_MODEL)")
    parser.add_argument("--data", type=Path, default=None, help="snapshot whose customers are replayed")
    parser.add_argument("--report", type=Path, default=None, help="JSON report (default: STACK_DIR/rollout.json)")
    parser.add_argument("--skip-shadow", action="store_true", help="go straight to the canary steps")
    parser.add_argument("--traffic", choices=["replay", "none"], default=None)
    parser.add_argument("--recover", action="store_true", help="finish or undo an interrupted promotion, then stop")
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
    promotion.SIGNALS.install()
    try:
        if (stack_cfg.stack_dir / "state.json").exists():  # a stack left running: finish what it left half done
            outcome = promotion.recover(Stack.attach(stack_cfg.stack_dir))
            if args.recover:
                print(outcome or "recover: no interrupted promotion")
                return 0
            raise RuntimeError(f"a stack is already running from {stack_cfg.stack_dir}: `make stack-down` first")
        if args.recover:
            print("recover: no stack running, nothing to recover")
            return 0
        return run(
            stack_cfg,
            cfg,
            config.settings().prod_metrics,
            args.report or stack_cfg.stack_dir / "rollout.json",
            args.data,
        )
    except CandidateRefused as exc:
        print(f"rollout refused: {exc}; nothing started", file=sys.stderr)
        return EXIT_REFUSED
    except (ValueError, RuntimeError, TimeoutError, FileNotFoundError, OSError) as exc:
        print(f"rollout: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("rollout: stopped by a signal before the stack started", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
