"""Promotion and rollback as a short, crash-consistent sequence.

Two facts must hold at every instant, whatever is killed and whenever:
nginx points at a live process, and prod_metrics.json describes the model
the stable stage serves, or an intent file (`promote.json` in the stack
folder) records the step in flight so the next command finishes or undoes it.

Promote, from canary 100 % (every user on the candidate process; the old
stable process is its backup):

    P1  write the intent: candidate model and record, the old stable model
    P2  restart the stable process on the candidate's model   users: candidate process
    P3  nginx -> stable stage (stage files, no reload)          users: stable process, candidate model
    P4  prod_metrics.previous.json <- old baseline; prod_metrics.json <- the candidate's record
    P5  remove the intent

A failure at P2 undoes it (stable restarted on its old model, nginx -> stable
stage). A failure at P4 (the baseline cannot be written) undoes P2-P3 the same
way, with users on the candidate process while stable restarts. SIGTERM and
SIGINT are deferred while P1-P5 run, so an operator's Ctrl-C lands on a
consistent point. A SIGKILL leaves the intent behind: `recover` (run by the
next `make rollout`, `make stack-down`, or `python -m deploy.rollout --recover`)
finishes the promotion if the stable process already serves the candidate
(P3-P5 again, each idempotent), and undoes it otherwise.

`settle_on_stable` is the rollback: stable alive on its model (restarted if
it died), nginx alive (restarted, orphaned workers stopped, if its master
died) and in the stable stage.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from deploy.drivers.stack import Stack
from src import atomic, record
from src.record import ArtifactRecord

INTENT = "promote.json"


class Signals:
    """SIGTERM/SIGINT raise KeyboardInterrupt, except inside `deferred()`, where they wait for its end."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending: int | None = None

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.depth:
            self.pending = signum
            return
        raise KeyboardInterrupt

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1


SIGNALS = Signals()


@dataclass(frozen=True)
class Intent:
    candidate_model: Path
    stable_model: Path
    candidate: ArtifactRecord
    prod_path: Path

    def write(self, stack_dir: Path) -> None:
        document = {
            "candidate_model": str(self.candidate_model),
            "stable_model": str(self.stable_model),
            "prod_path": str(self.prod_path),
            "candidate": json.loads(self.candidate.to_json()),
        }
        atomic.write_text(stack_dir / INTENT, json.dumps(document, indent=2))

    @classmethod
    def read(cls, stack_dir: Path) -> Intent | None:
        path = stack_dir / INTENT
        if not path.is_file():
            return None
        raw = json.loads(path.read_text())
        return cls(
            Path(raw["candidate_model"]),
            Path(raw["stable_model"]),
            record.ArtifactRecord.model_validate(raw["candidate"]),
            Path(raw["prod_path"]),
        )


class PromoteFailed(Exception):
    """Promotion could not complete; the stack was put back on the old stable model."""


def _pause(stack: Stack, phase: str, drill: tuple[str | None, float]) -> None:
    """A fault drill: stop at `phase` for a while (a marker file says so) so a test can kill the process here."""
    if drill[0] == phase:
        (stack.cfg.stack_dir / f"drill.{phase}").touch()
        time.sleep(drill[1])


def settle_on_stable(stack: Stack, model: Path | None = None) -> list[str]:
    """Users on the stable stage with live processes behind it; returns what had to be repaired."""
    repaired = []
    model = model or stack.cfg.stable_model
    if not stack.healthy("stable"):
        stack.restart_service("stable", model)
        repaired.append("restarted stable")
    if stack.alive("nginx"):
        stack.set_stage("stable")
    else:
        stack.restart_nginx("stable")
        repaired.append("restarted nginx (its master had died)")
    return repaired


def _write_baseline(candidate: ArtifactRecord, prod_path: Path) -> None:
    if prod_path.is_file() and prod_path.read_text() != candidate.to_json():
        atomic.write_bytes(prod_path.with_name(prod_path.stem + ".previous.json"), prod_path.read_bytes())
    record.write(candidate, prod_path)


def _undo(stack: Stack, intent: Intent) -> None:
    """Back to the old stable model, users on a live process throughout."""
    if stack.healthy("candidate") and stack.alive("nginx"):
        stack.set_stage("canary", 100)  # users on the candidate process while stable restarts
    stack.restart_service("stable", intent.stable_model)
    settle_on_stable(stack, intent.stable_model)
    (stack.cfg.stack_dir / INTENT).unlink(missing_ok=True)


def _finish(stack: Stack, intent: Intent) -> None:
    if stack.alive("nginx"):
        stack.set_stage("stable")
    else:
        stack.restart_nginx("stable")
    _write_baseline(intent.candidate, intent.prod_path)
    (stack.cfg.stack_dir / INTENT).unlink(missing_ok=True)


def promote(
    stack: Stack,
    candidate_model: Path,
    candidate: ArtifactRecord,
    prod_path: Path,
    drill: tuple[str | None, float] = (None, 0.0),
) -> None:
    """P1-P5 above, with signals deferred; raises PromoteFailed after undoing a failed step."""
    intent = Intent(candidate_model, stack.cfg.stable_model, candidate, prod_path)
    with SIGNALS.deferred():
        intent.write(stack.cfg.stack_dir)  # P1
        _pause(stack, "intent-written", drill)
        try:
            stack.restart_service("stable", candidate_model)  # P2
        except (RuntimeError, TimeoutError, OSError) as exc:
            _undo(stack, intent)
            raise PromoteFailed(f"the stable process did not start on the candidate's model ({exc})") from None
        _pause(stack, "stable-restarted", drill)
        stack.set_stage("stable")  # P3
        _pause(stack, "stage-switched", drill)
        try:
            _write_baseline(candidate, prod_path)  # P4
        except OSError as exc:
            _undo(stack, intent)
            raise PromoteFailed(f"the new baseline could not be written to {prod_path} ({exc})") from None
        (stack.cfg.stack_dir / INTENT).unlink()  # P5


def recover(stack: Stack, out: Callable[[str], None] = print) -> str | None:
    """Finish or undo a promotion a killed process left half done; None when there was none."""
    intent = Intent.read(stack.cfg.stack_dir)
    if intent is None:
        return None
    with SIGNALS.deferred():
        if stack.healthy("stable") and stack.served_sha("stable") == intent.candidate.model_sha256:
            _finish(stack, intent)
            outcome = f"finished an interrupted promotion: stable serves {intent.candidate.model_version}"
        else:
            _undo(stack, intent)
            outcome = "undid an interrupted promotion: stable serves its old model, the baseline is unchanged"
    out(f"recover: {outcome}")
    return outcome
