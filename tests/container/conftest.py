"""The container surface: the image and compose.yaml on a real Docker engine.

Not part of `make test`: a laptop may have no Docker. Everything here skips,
with the reason, only when no engine answers `docker info`; on a machine
without Docker Hub, `../shared/docker/setup` starts one with stand-in base
images. CONTAINER_IMAGE names a prebuilt image to test (CI tests the image it
is about to push); otherwise the image is built here from the gated pair.
Every container, network, volume and image a test makes is removed after it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploy.drivers import compose
from src import artifacts, loopback
from src.config import ROOT
from src.processes import poll_until


def docker(*args: str, check: bool = True, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result


def engine_missing() -> str | None:
    """Why no Docker engine is reachable, or None when one is."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    try:
        result = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer in 20 s"
    if result.returncode != 0:
        return "`docker info` reached no engine: " + result.stderr.decode(errors="replace").strip().splitlines()[-1]
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = engine_missing()
    if reason:
        marker = pytest.mark.skip(reason=f"no Docker engine ({reason}); start one to run tests/container")
        for item in items:
            if "tests/container" in str(item.fspath):
                item.add_marker(marker)


def report(line: str) -> None:
    """A figure the README quotes, printed with -s and kept in the log otherwise."""
    print(f"\n[container] {line}")


@pytest.fixture(scope="session")
def gated_pair() -> Path:
    model = ROOT / artifacts.MODEL_FILE
    assert model.is_file(), f"no gated {artifacts.MODEL_FILE} in the project root: run `make model` first"
    artifacts.verify(model, require_gate=True)
    return ROOT


@pytest.fixture(scope="session")
def image(gated_pair: Path) -> Iterator[str]:
    """The image under test: CONTAINER_IMAGE as it is, or one built here (and removed after)."""
    prebuilt = os.environ.get("CONTAINER_IMAGE")
    if prebuilt:
        docker("image", "inspect", prebuilt)
        yield prebuilt
        return
    tag = f"churn-service:test-{uuid.uuid4().hex[:8]}"
    args = [f"--build-arg={k}={v}" for k, v in compose.build_args().items()]
    started = time.monotonic()
    docker("build", "--quiet", *args, "--tag", tag, str(ROOT))
    size = int(docker("image", "inspect", tag, "--format", "{{.Size}}").stdout)
    report(f"image build {time.monotonic() - started:.1f} s, size {size / 1e6:.0f} MB ({tag})")
    try:
        yield tag
    finally:
        docker("rmi", "--force", tag, check=False)


def labels(image: str) -> dict[str, str]:
    return json.loads(docker("image", "inspect", image, "--format", "{{json .Config.Labels}}").stdout)


def artifact_folder(root: Path, name: str, source: Path = ROOT) -> Path:
    """A copy of the gated pair that uid 10001 inside a container can read."""
    folder = root / name
    folder.mkdir(parents=True)
    for file in (artifacts.MODEL_FILE, artifacts.METRICS_FILE):
        shutil.copy2(source / file, folder / file)
        (folder / file).chmod(0o644)
    folder.chmod(0o755)
    return folder


@pytest.fixture(scope="session")
def readable_tmp() -> Iterator[Path]:
    """A scratch folder every uid can enter (pytest's tmp_path is 0700: uid 10001 could not read a mount there)."""
    path = Path(tempfile.mkdtemp(prefix="churn-container-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def wait_http(url: str, timeout: float) -> float:
    """Seconds until url answers 200; fails the test after `timeout`, naming the last answer."""
    started, last = time.monotonic(), ["no answer"]

    def ok() -> bool:
        try:
            response = loopback.get(url, timeout=2)
        except httpx.TransportError as exc:
            last[0] = repr(exc)
            return False
        last[0] = f"{response.status_code} {response.text[:200]}"
        return response.status_code == 200

    try:
        poll_until(ok, timeout=timeout, what=url, interval=0.2)
    except TimeoutError:
        raise AssertionError(f"{url} did not answer 200 within {timeout} s; last answer: {last[0]}") from None
    return time.monotonic() - started


def wait_stage(url: str, expect: dict[str, object], timeout: float) -> float:
    """Seconds until nginx at url reports the stage `expect` describes (on /stage, or /health for older templates)."""
    started = time.monotonic()
    try:
        poll_until(lambda: compose.serves(url, expect), timeout=timeout, what=f"nginx at {url}", interval=0.2)
    except TimeoutError:
        raise AssertionError(f"nginx at {url} did not report {expect} on /stage within {timeout} s") from None
    return time.monotonic() - started
