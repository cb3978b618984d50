"""Drive compose.yaml: check before Docker acts, build once with labels, change stage without a recreate.

`check` refuses, in one line, what Docker would otherwise turn into a broken
stack: a stage nginx cannot serve, or an artifact folder without the gated
pair (Docker used to create a missing folder empty, root-owned, and the
service crash-looped). `set_stage` validates with deploy.rules.stages - the
same judge as the local stack - then rewrites the stage files the running
nginx reads per request (nginx/render-stage.sh set): no reload, so no
keep-alive connection is closed under a client, and no recreate, which
refuses connections while the container restarts (docs/benchmarks.md).

nginx reports the stage it serves at `/stage` ({"mode": ..., "candidate_percent": N});
`/health` is the stable service's own health.
"""

from __future__ import annotations

import os
import subprocess

import httpx

from deploy.rules import stages
from deploy.settings import ComposeSettings
from src import artifacts, loopback, processes, record
from src.config import ROOT

SWITCH_TIMEOUT_S = 15.0  # a file write inside the container; far longer means nginx is not reading it


class ComposeError(RuntimeError):
    """A check that failed before (or instead of) a Docker command; its message is the one line shown."""


def check(settings: ComposeSettings) -> str:
    """Validate the stage and both artifact folders; returns the stage nginx will serve."""
    stage, _ = stages.stage(settings.nginx_mode, settings.canary_percent)
    for name, folder in (("STABLE_DIR", settings.stable_dir), ("CANDIDATE_DIR", settings.candidate_dir)):
        path = folder if folder.is_absolute() else ROOT / folder
        if not path.is_dir():
            raise ComposeError(
                f"{name}={folder}: no such folder (put a gated {artifacts.MODEL_FILE} + {artifacts.METRICS_FILE} there)"
            )
        for file in (artifacts.MODEL_FILE, artifacts.METRICS_FILE):
            if not (path / file).is_file():
                raise ComposeError(f"{name}={folder}: no {file} in it (copy the gated artifact pair there)")
    return stage


def build_args() -> dict[str, str]:
    """REVISION and HOLDOUT_AUC for the image labels: the commit and the AUC of the pair in the build context."""
    revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    try:
        auc = record.read(ROOT / artifacts.METRICS_FILE).holdout_auc
    except record.RecordError as exc:
        raise ComposeError(f"{exc}: the image bakes the gated pair, run `make model`") from None
    return {
        "REVISION": revision.stdout.strip() if revision.returncode == 0 else "unknown",
        "HOLDOUT_AUC": str(auc),
    }


def compose(*args: str, env: dict[str, str] | None = None, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """`docker compose ARGS` from the project root; raises ComposeError with Docker's last line on failure."""
    result = subprocess.run(
        ["docker", "compose", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=capture,
        text=True,
    )
    if result.returncode != 0:
        detail = (result.stderr or "").strip().splitlines()[-1:] if capture else []
        raise ComposeError(f"docker compose {' '.join(args)} failed" + (f": {detail[0]}" if detail else ""))
    return result


def up(settings: ComposeSettings, build: bool = True) -> str:
    """Check, then start; build=False runs CHURN_IMAGE as it is (an image CI built and scanned)."""
    stage = check(settings)
    if build:
        compose("up", "--detach", "--wait", "--build", env=build_args())
    else:
        compose("up", "--detach", "--wait", "--no-build")
    return stage


def published_url() -> str:
    """The host address compose published nginx on (127.0.0.1:STACK_PORT)."""
    out = compose("port", "nginx", "8080", capture=True).stdout.strip()
    return f"http://{out}"


def expected_stage(stage: str, number: int) -> dict[str, object]:
    """The fields nginx's stage report must carry in `stage` (the canary also names its percent)."""
    return {"mode": stage, "candidate_percent": number} if stage == "canary" else {"mode": stage}


def serves(url: str, expect: dict[str, object]) -> bool:
    """Does a fresh connection to nginx at `url` report the stage `expect` describes?"""
    try:
        response = loopback.get(f"{url}/stage", timeout=2)
        body = response.json() if response.status_code == 200 else {}
    except (httpx.TransportError, ValueError):
        return False
    return isinstance(body, dict) and all(body.get(k) == v for k, v in expect.items())


def set_stage(mode: str, percent: str) -> tuple[str, int]:
    """Rewrite the stage files in the running nginx (no reload); return once nginx reports the stage from the host."""
    stage, number = stages.stage(mode, percent)
    env = ["-e", f"NGINX_MODE={mode}", "-e", f"CANARY_PERCENT={number}"]
    compose("exec", "-T", *env, "nginx", "/etc/nginx/churn/render-stage.sh", "set", capture=True)
    expect = expected_stage(stage, number)
    url = published_url()
    try:
        processes.poll_until(lambda: serves(url, expect), timeout=SWITCH_TIMEOUT_S, what=f"nginx reporting {expect}")
    except TimeoutError:
        raise ComposeError(
            f"nginx did not report {expect} on /stage within {SWITCH_TIMEOUT_S:g} s of the switch"
        ) from None
    return stage, number
