"""The signed gate record: sign the pair, and every way a pair can stop being the signed one is refused in one line."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from src import artifacts, record, signing
from tools.keys import KeyPair, ec_key_pair, signed_copy


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return ec_key_pair(tmp_path_factory.mktemp("keys"))


def _refusal(model: Path, public_key: Path) -> str:
    with pytest.raises(signing.SignatureError) as caught:
        signing.verify(model, public_key=public_key)
    message = str(caught.value)
    assert "\n" not in message, f"a refusal is one line, not:\n{message}"
    return message


def test_a_signed_pair_verifies_and_the_signature_sits_beside_it(small_artifact: Path, tmp_path: Path, keys) -> None:
    model = signed_copy(small_artifact, tmp_path / "pair", keys)
    assert (model.parent / signing.SIGNATURE_FILE).is_file(), "the signature must live beside the pair"
    signing.verify(model, public_key=keys.public)


def test_the_signature_covers_exactly_the_model_and_its_record(small_artifact: Path, tmp_path: Path, keys) -> None:
    folder = tmp_path / "pair"
    (folder / artifacts.REJECTED_DIR).mkdir(parents=True)
    (folder / artifacts.REJECTED_DIR / "notes.txt").write_text("a failed candidate's leftovers")
    model = signed_copy(small_artifact, folder, keys)
    bundle = json.loads((folder / signing.SIGNATURE_FILE).read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    signed = sorted(resource["name"] for resource in statement["predicate"]["resources"])
    assert signed == sorted([artifacts.MODEL_FILE, artifacts.METRICS_FILE]), f"the signature lists {signed}"
    (folder / "later.log").write_text("written after signing")
    signing.verify(model, public_key=keys.public)  # files beside the pair are not the pair


def test_an_edited_record_field_is_refused(small_artifact: Path, tmp_path: Path, keys) -> None:
    model = signed_copy(small_artifact, tmp_path / "pair", keys)
    rec = record.read(model.parent / artifacts.METRICS_FILE)
    record.write(
        rec.model_copy(update={"holdout_auc": min(rec.holdout_auc + 0.05, 0.96)}), model.parent / "metrics.json"
    )
    assert artifacts.verify(model, require_gate=True), (
        "the edited record must still pass the sha check to mean anything"
    )
    assert f"{artifacts.METRICS_FILE} not the signed bytes" in _refusal(model, keys.public)


def test_a_swapped_model_is_refused_even_with_a_consistent_record(
    small_artifact: Path, tmp_path: Path, keys, small_customers
) -> None:
    from src.train import fit

    model = signed_copy(small_artifact, tmp_path / "pair", keys)
    fitted = fit(small_customers, seed=3)
    artifacts.stage_model(fitted.model, model).replace(model)
    rec = record.read(model.parent / artifacts.METRICS_FILE)
    record.write(rec.model_copy(update={"model_sha256": artifacts.sha256_file(model)}), model.parent / "metrics.json")
    assert artifacts.verify(model), "the swap must pass the sha check to mean anything"
    assert f"{artifacts.MODEL_FILE} not the signed bytes" in _refusal(model, keys.public)


def test_the_signature_of_another_pair_is_refused(small_artifact: Path, tmp_path: Path, keys) -> None:
    model = signed_copy(small_artifact, tmp_path / "pair", keys)
    other = signed_copy(small_artifact, tmp_path / "other", keys)
    rec = record.read(other.parent / artifacts.METRICS_FILE)
    record.write(rec.model_copy(update={"seed": rec.seed + 1}), other.parent / artifacts.METRICS_FILE)
    signing.sign(other, private_key=keys.private)
    shutil.copy(other.parent / signing.SIGNATURE_FILE, model.parent / signing.SIGNATURE_FILE)
    assert "does not verify" in _refusal(model, keys.public)


def test_a_truncated_signature_is_refused(small_artifact: Path, tmp_path: Path, keys) -> None:
    model = signed_copy(small_artifact, tmp_path / "pair", keys)
    sig = model.parent / signing.SIGNATURE_FILE
    sig.write_bytes(sig.read_bytes()[: len(sig.read_bytes()) // 2])
    assert "does not verify" in _refusal(model, keys.public)


def test_a_signature_by_another_key_is_refused(small_artifact: Path, tmp_path: Path, keys) -> None:
    model = signed_copy(small_artifact, tmp_path / "pair", keys)
    stranger = ec_key_pair(tmp_path / "stranger")
    assert "Key mismatch" in _refusal(model, stranger.public)


def test_an_unsigned_pair_is_refused(small_artifact: Path, tmp_path: Path, keys) -> None:
    model = signed_copy(small_artifact, tmp_path / "pair", keys)
    (model.parent / signing.SIGNATURE_FILE).unlink()
    assert "has no signature" in _refusal(model, keys.public)


def test_a_failed_signing_keeps_the_previous_signature(small_artifact: Path, tmp_path: Path, keys) -> None:
    model = signed_copy(small_artifact, tmp_path / "pair", keys)
    before = (model.parent / signing.SIGNATURE_FILE).read_bytes()
    not_a_key = tmp_path / "not-a-key.pem"
    not_a_key.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(signing.SignatureError):
        signing.sign(model, private_key=not_a_key)
    assert (model.parent / signing.SIGNATURE_FILE).read_bytes() == before, "a failed sign overwrote a good signature"
    assert sorted(p.name for p in model.parent.iterdir()) == sorted(
        [artifacts.MODEL_FILE, artifacts.METRICS_FILE, signing.SIGNATURE_FILE]
    ), "a failed sign left a temp file behind"


def test_no_trusted_signer_means_nothing_is_checked(small_artifact: Path) -> None:
    trust = signing.TrustSettings(trusted_public_key=None, trusted_identity=None)
    assert signing.verify_trusted(small_artifact / artifacts.MODEL_FILE, trust=trust) is False


def test_the_refusal_names_the_changed_file_however_the_library_quotes_it() -> None:
    plain = ValueError("""Signature mismatch: ["Hash mismatch for 'metrics.json': Expected 'Digest(b"x")'"]""")
    escaped = ValueError(r"""Signature mismatch: ['Hash mismatch for \'model_candidate.skops\': Expected \'b"\'\'']""")
    assert signing._reason(plain) == f"{artifacts.METRICS_FILE} not the signed bytes"
    assert signing._reason(escaped) == f"{artifacts.MODEL_FILE} not the signed bytes"


def test_the_rollout_refuses_an_unsigned_candidate_when_a_key_is_trusted(
    small_artifact: Path, tmp_path: Path, keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deploy.control.candidate import CandidateRefused, check_candidate

    model = signed_copy(small_artifact, tmp_path / "pair", keys)
    monkeypatch.setenv("TRUSTED_PUBLIC_KEY", str(keys.public))
    assert check_candidate(model).gate_passed, "a signed, gated candidate must pass the check"
    (model.parent / signing.SIGNATURE_FILE).unlink()
    with pytest.raises(CandidateRefused, match="has no signature"):
        check_candidate(model)
