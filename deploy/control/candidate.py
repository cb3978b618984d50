"""Admission: may this candidate be rolled out at all? Said in one line before any process starts.

The record beside a model is only a claim. A candidate is admitted when it
passed the gate, is the file the gate measured, loads through the service's
own boundary, is signed by the trusted signer (TRUSTED_* set), re-measures on
its holdout to what its record says, and the ratchet lets it replace what
serves.
"""

from __future__ import annotations

from pathlib import Path

from src import artifacts, data, metrics, record, signing
from src.features import build_features
from src.gate import contract as gate
from src.record import ArtifactRecord
from src.train import split

MEASURE_TOLERANCE = 1e-4  # records are rounded to 4 places


class CandidateRefused(ValueError):
    """The candidate cannot be rolled out at all (ungated, tampered, unloadable, mis-measured); nothing started."""


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
