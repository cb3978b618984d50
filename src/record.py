"""The artifact record: metrics.json (and prod_metrics.json) as one validated type.

Everything downstream of the gate (the service, the report, the rollout, the
CI summary) decides from this record: whether a model passed, which file it
is, what it scored. A record read by string keys lets `"passed": "false"`
pass as truthy and an AUC of 7 go unnoticed; here every read validates the
whole record strictly, and an invalid one is refused with one line that
names the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from src import atomic

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
# A version travels in HTTP headers and log lines: no spaces, no CR/LF, bounded.
Version = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")]
Share = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Outcome = Literal["passed", "failed", "skipped"]
Operator = Literal[">=", "<=", ">", "<"]


class RecordError(ValueError):
    """A record that is missing, unreadable or does not validate; the message is one line."""


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class SliceMetrics(_Strict):
    n: Annotated[int, Field(ge=0)]
    churn_rate: Share
    auc: Share | None
    ece: Share


class CheckResult(_Strict):
    """One gate check as it was judged: value, operator, threshold, outcome and the message a student reads."""

    id: str
    label: str
    op: Operator
    threshold: float
    value: float | None
    outcome: Outcome
    detail: str = ""


class GateVerdict(_Strict):
    """The gate's verdict, computed from its checks' own results (never from a test runner's exit status).

    A verdict must rest on evidence: one with no check, or whose every check
    was skipped, is refused as invalid, so the service, the rollout, the
    release checks and the registry (all of which read records only through
    this type) refuse it with the same one line.
    """

    passed: bool
    checks: list[CheckResult]
    failed: list[str]
    regression_tolerance: NonNegative
    baseline_auc: Share | None = None

    @model_validator(mode="after")
    def _consistent(self) -> GateVerdict:
        if not any(c.outcome != "skipped" for c in self.checks):  # the one place: every reader refuses it
            raise ValueError(
                f"no gate check was executed ({len(self.checks)} declared, all skipped): a verdict without evidence"
            )
        failed = [c.id for c in self.checks if c.outcome == "failed"]
        if self.failed != failed:
            raise ValueError(f"failed lists {self.failed} but the checks that failed are {failed}")
        if self.passed != (not failed and bool(self.checks)):
            raise ValueError(f"passed is {self.passed} but {len(failed)} of {len(self.checks)} checks failed")
        return self


class ArtifactRecord(_Strict):
    """What the gate measured about one model file; `gate` is None for an ungated training run."""

    model_file: str
    model_sha256: Sha256
    model_version: Version
    model_type: str
    data_sha256: Sha256
    seed: int
    n_train: Annotated[int, Field(ge=1)]
    n_holdout: Annotated[int, Field(ge=1)]
    feature_columns: list[str]
    holdout_auc: Share
    holdout_ece: Share
    holdout_churn_rate: Share
    predicted_churn_share: Share
    predict_p50_ms: NonNegative
    predict_p99_ms: NonNegative
    train_seconds: NonNegative
    slices: dict[str, dict[str, SliceMetrics]]
    versions: dict[str, str]
    gate: GateVerdict | None = None

    @property
    def gate_passed(self) -> bool:
        return self.gate is not None and self.gate.passed

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


def read(path: str | Path) -> ArtifactRecord:
    """Read and validate a record; any problem is a RecordError naming the file and the first bad field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecordError(f"no record at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(f"{path}: unreadable ({exc})") from None
    try:
        return ArtifactRecord.model_validate_json(text)
    except ValidationError as exc:
        raise RecordError(f"{path}: invalid record: {first_error(exc)}") from None


def first_error(exc: ValidationError) -> str:
    """`field.path: message` of the first error, on one line."""
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "(record)"
    return (
        f"{where}: {error['msg']} (and {exc.error_count() - 1} more)"
        if exc.error_count() > 1
        else (f"{where}: {error['msg']}")
    )


def write(record: ArtifactRecord, path: Path) -> None:
    """Atomically replace a record file."""
    atomic.write_text(path, record.to_json())
