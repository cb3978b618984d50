"""Records for tests: a real gated record with its verdict turned, consistently."""

from __future__ import annotations

from src.record import ArtifactRecord


def with_verdict(rec: ArtifactRecord, passed: bool | None) -> ArtifactRecord:
    """`rec` with a passing, failing (its first check failed) or absent (None: never gated) verdict."""
    if passed is None or rec.gate is None:
        return rec.model_copy(update={"gate": None})
    checks = list(rec.gate.checks)
    if not passed:
        checks[0] = checks[0].model_copy(update={"outcome": "failed", "detail": "turned red for a test"})
    failed = [c.id for c in checks if c.outcome == "failed"]
    return rec.model_copy(
        update={"gate": rec.gate.model_copy(update={"passed": passed, "checks": checks, "failed": failed})}
    )
