"""The image as it ships: read-only, uid 10001, the offline model's exact numbers, and no unverified artifact."""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import pytest

from src import artifacts, config, data, loopback, record, schema, signing
from src.features import build_features
from src.processes import free_port, poll_until
from src.train import split
from tests.container.conftest import artifact_folder, docker, labels, report, wait_http
from tools.keys import ec_key_pair

PARITY_ROWS = 300


@contextmanager
def container(image: str, *extra: str) -> Iterator[tuple[str, str]]:
    """Run the image as production does (read-only root, /tmp in memory, uid 10001) on 127.0.0.1; always removed."""
    port = free_port()
    name = f"churn-test-{uuid.uuid4().hex[:8]}"
    docker(
        "run", "--detach", "--name", name, "--read-only", "--tmpfs", "/tmp", "--user", "10001:10001",
        "--publish", f"127.0.0.1:{port}:8000", *extra, image,
    )  # fmt: skip
    try:
        yield name, f"http://127.0.0.1:{port}"
    finally:
        docker("rm", "--force", "--volumes", name, check=False)


def docker_health(name: str, timeout: float) -> tuple[str, float]:
    """Docker's verdict on the container's HEALTHCHECK once it has one (or the last status after `timeout`)."""
    started, status = time.monotonic(), [""]

    def settled() -> bool:
        status[0] = docker("inspect", name, "--format", "{{.State.Health.Status}}").stdout.strip()
        return status[0] in ("healthy", "unhealthy")

    with contextlib.suppress(TimeoutError):
        poll_until(settled, timeout=timeout, what=f"{name}'s health", interval=0.5)
    return status[0], time.monotonic() - started


def test_the_image_labels_carry_the_commit_and_the_holdout_auc(image: str, gated_pair: Path) -> None:
    found = labels(image)
    auc = str(record.read(gated_pair / artifacts.METRICS_FILE).holdout_auc)
    assert found.get("io.churn-service.holdout-auc") == auc, (
        f"holdout-auc label {found.get('io.churn-service.holdout-auc')!r}, metrics.json says {auc}: "
        "the build was not given HOLDOUT_AUC"
    )
    assert found.get("org.opencontainers.image.revision") not in (None, "", "unknown"), (
        "revision label is unknown: the build was not given REVISION"
    )


def test_the_image_serves_read_only_as_uid_10001_and_reports_healthy(image: str) -> None:
    assert docker("image", "inspect", image, "--format", "{{.Config.User}}").stdout.strip() == "10001:10001", (
        "the image's USER is not 10001:10001: it would serve as root"
    )
    with container(image) as (name, url):
        seconds = wait_http(f"{url}/health", timeout=90)
        uid = docker("exec", name, "id", "-u").stdout.strip()
        assert uid == "10001", f"the service runs as uid {uid}, not 10001"
        write = docker("exec", name, "sh", "-c", "echo x > /app/x", check=False)
        assert write.returncode != 0, "the root filesystem is writable: --read-only did not hold"
        status, to_docker_healthy = docker_health(name, timeout=90)
        assert status == "healthy", f"Docker's HEALTHCHECK says {status!r} while /health answers 200"
    report(f"time to healthy: /health 200 after {seconds:.1f} s, Docker healthy after {to_docker_healthy:.1f} s")


def test_predict_in_the_container_equals_the_offline_model_bit_for_bit(image: str, gated_pair: Path) -> None:
    df = data.load(config.settings().churn_data)
    X, y = build_features(df)
    _, X_hold, _, _ = split(X, y)
    rows = df.loc[X_hold.index].iloc[:PARITY_ROWS]
    model, _ = artifacts.load_verified(gated_pair / artifacts.MODEL_FILE, require_gate=True)
    offline = [float(model.predict_proba(build_features(rows.iloc[[i]])[0])[0, 1]) for i in range(len(rows))]
    with container(image) as (_, url):
        wait_http(f"{url}/health", timeout=90)
        with loopback.client(base_url=url, timeout=10) as client:
            bodies = [schema.request_body(r) for r in rows.to_dict("records")]
            served = [client.post("/predict", json=body).json()["churn_probability"] for body in bodies]
    differing = [i for i, (a, b) in enumerate(zip(served, offline, strict=True)) if a != b]
    assert not differing, (
        f"train/serve skew in the image: {len(differing)} of {len(rows)} holdout customers differ "
        f"(first: served {served[differing[0]]!r}, offline {offline[differing[0]]!r}); "
        "another library version in the image than in the venv?"
    )


def test_a_tampered_artifact_is_refused_and_the_container_never_turns_healthy(
    image: str, gated_pair: Path, readable_tmp: Path
) -> None:
    pristine = artifact_folder(readable_tmp, "pristine", gated_pair)
    tampered = artifact_folder(readable_tmp, "tampered", gated_pair)
    with open(tampered / artifacts.MODEL_FILE, "ab") as fh:
        fh.write(b"\0")
    env = ["--env", f"MODEL_PATH=/models/{artifacts.MODEL_FILE}"]
    # The control: the same mount, untampered, serves; so a refusal below is about the bytes.
    with container(image, *env, "--volume", f"{pristine}:/models:ro") as (_, url):
        wait_http(f"{url}/health", timeout=90)
    with container(image, *env, "--volume", f"{tampered}:/models:ro") as (name, _):
        code = docker("wait", name, timeout=90).stdout.strip()
        logs = docker("logs", name).stdout + docker("logs", name).stderr
    assert code != "0", f"the container exited {code} on a tampered artifact; it must fail"
    assert "does not match" in logs, f"the refusal should name the checksum mismatch; the logs say:\n{logs[-1500:]}"


def image_env(image: str) -> dict[str, str]:
    pairs = json.loads(docker("image", "inspect", image, "--format", "{{json .Config.Env}}").stdout)
    return dict(pair.split("=", 1) for pair in pairs)


def test_the_image_serves_its_own_skops_copy_of_the_gated_model(image: str) -> None:
    model_path = PurePosixPath(image_env(image).get("MODEL_PATH", ""))
    assert model_path.parent == PurePosixPath("/app"), f"the image's MODEL_PATH is {model_path}, not a file in /app"
    assert model_path.suffix == PurePosixPath(artifacts.MODEL_FILE).suffix, (
        f"the image serves {model_path.name}, not a {PurePosixPath(artifacts.MODEL_FILE).suffix} file: "
        "the Dockerfile still copies the old (pickle) artifact"
    )


def test_the_image_holds_no_build_context_beyond_the_dockerignore_list(image: str, gated_pair: Path) -> None:
    model = PurePosixPath(image_env(image)["MODEL_PATH"]).name
    listing = docker("run", "--rm", "--entrypoint", "ls", image, "-A", "/app").stdout.split()
    expected = ["app", "deploy", artifacts.METRICS_FILE, model, "requirements.txt", "src"]
    expected += [signing.SIGNATURE_FILE] if (gated_pair / signing.SIGNATURE_FILE).is_file() else []
    assert sorted(listing) == sorted(expected), (
        f"/app holds {sorted(listing)}: .dockerignore let something else into the image"
    )
    admitted = sorted(
        line.removeprefix("!deploy/")
        for line in (config.ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!deploy/")
    )
    assert "release_checks.py" in admitted, ".dockerignore must admit the cluster's release checks"
    found = docker("run", "--rm", "--entrypoint", "find", image, "/app/deploy", "-type", "f", "-name", "*.py")
    shipped = sorted(PurePosixPath(path).relative_to("/app/deploy").as_posix() for path in found.stdout.split())
    assert shipped == admitted, (
        f"/app/deploy holds {shipped}, .dockerignore admits {admitted}: only the cluster's release checks "
        "(and what they import) belong in the image"
    )


def test_a_signed_pair_serves_under_a_trusted_key_and_one_edited_field_never_turns_healthy(
    image: str, gated_pair: Path, readable_tmp: Path
) -> None:
    keys = ec_key_pair(readable_tmp / "keys")
    keys.public.chmod(0o644)
    signed = artifact_folder(readable_tmp, "signed", gated_pair)
    signing.sign(signed / artifacts.MODEL_FILE, private_key=keys.private)
    env = ["--env", f"MODEL_PATH=/models/{artifacts.MODEL_FILE}", "--env", "TRUSTED_PUBLIC_KEY=/trust/public.pem"]
    env += ["--volume", f"{keys.public}:/trust/public.pem:ro", "--volume", f"{signed}:/models:ro"]
    with container(image, *env) as (_, url):
        wait_http(f"{url}/health", timeout=90)
    rec = record.read(signed / artifacts.METRICS_FILE)
    better = rec.model_copy(update={"holdout_auc": min(rec.holdout_auc + 0.05, 0.96)})
    record.write(better, signed / artifacts.METRICS_FILE)
    with container(image, *env) as (name, _):
        code = docker("wait", name, timeout=90).stdout.strip()
        logs = docker("logs", name).stdout + docker("logs", name).stderr
    assert code != "0", f"the container exited {code} on an edited, signed record; it must fail"
    assert f"{artifacts.METRICS_FILE} not the signed bytes" in logs, f"the refusal names the record:\n{logs[-1500:]}"


def test_the_image_carries_the_workflow_s_keyless_signature_of_its_pair(image: str) -> None:
    """CI's build-push signs the pair keyless before the build; the image's own `verify` checks it."""
    identity = os.environ.get("CONTAINER_SIGNER_IDENTITY")
    if not identity:
        pytest.skip("keyless signing needs a GitHub Actions OIDC token: only build-push sets CONTAINER_SIGNER_IDENTITY")
    model = PurePosixPath(image_env(image)["MODEL_PATH"])
    result = docker(
        "run", "--rm", "--read-only", "--tmpfs", "/tmp", "--entrypoint", "python", image,
        "-m", "src.signing", "verify", "--identity", identity, "--model", model.name, str(model.parent),
        check=False, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, f"the image's pair does not verify as signed by {identity}: {result.stderr[-1500:]}"
