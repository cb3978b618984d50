"""Drive compose.yaml: check before Docker acts, build once with labels, change stage without a recreate.

    python -m deploy.compose up                           # make compose-up
    python -m deploy.compose set --mode canary --percent 25   # make compose-set
    python -m deploy.compose down                         # make compose-down

`up` refuses, in one line, what Docker would otherwise turn into a broken
stack: a stage nginx cannot serve, or an artifact folder without the gated
pair (Docker used to create a missing folder empty, root-owned, and the
service crash-looped). `set` validates with deploy.nginx.stage() - the same
judge as the local stack - then rewrites the stage files the running nginx
reads per request (nginx/render-stage.sh set): no reload, so no keep-alive
connection is closed under a client (a reload lost 9 of 13,711 keep-alive
requests over 12 switches, 2026-12), and no recreate (which refused
connections for ~3.9 s, 2026-11).

nginx reports the stage it serves at `/stage` ({"mode": ..., "candidate_percent": N});
`/health` is the stable service's own health.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from deploy import nginx
from src import artifacts, record
from src.config import ROOT


class ComposeSettings(BaseSettings):
    """docker compose (`make compose-up`): the variables compose.yaml reads that can be wrong before Docker starts."""

    model_config = SettingsConfigDict(env_ignore_empty=True, frozen=True, extra="ignore")

    stable_dir: Path = Field(
        Path("artifacts/stable"), description="folder with the gated pair stable serves (relative: to the checkout)"
    )
    candidate_dir: Path = Field(Path("artifacts/candidate"), description="folder with the candidate's gated pair")
    nginx_mode: str = Field("shadow", description="the stage nginx starts in: stable, shadow or canary")
    # A string, so that `x` or `2.5` reaches deploy.nginx.stage() and is refused in its words.
    canary_percent: str = Field("5", description="share of requests to the candidate in canary (0: the stable stage)")


class ComposeError(RuntimeError):
    """A check that failed before (or instead of) a Docker command; its message is the one line shown."""


def check(settings: ComposeSettings) -> str:
    """Validate the stage and both artifact folders; returns the stage nginx will serve."""
    stage, _ = nginx.stage(settings.nginx_mode, settings.canary_percent)
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
        response = httpx.get(f"{url}/stage", timeout=2)
        body = response.json() if response.status_code == 200 else {}
    except (httpx.TransportError, ValueError):
        return False
    return isinstance(body, dict) and all(body.get(k) == v for k, v in expect.items())


def set_stage(mode: str, percent: str) -> tuple[str, int]:
    """Rewrite the stage files in the running nginx (no reload); return once nginx reports the stage from the host."""
    stage, number = nginx.stage(mode, percent)
    env = ["-e", f"NGINX_MODE={mode}", "-e", f"CANARY_PERCENT={number}"]
    compose("exec", "-T", *env, "nginx", "/etc/nginx/churn/render-stage.sh", "set", capture=True)
    expect = expected_stage(stage, number)
    url = published_url()
    deadline = time.monotonic() + 15
    while not serves(url, expect):
        if time.monotonic() > deadline:
            raise ComposeError(f"nginx did not report {expect} on /stage within 15 s of the switch")
        time.sleep(0.05)
    return stage, number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run compose.yaml's stable/candidate/nginx stack.")
    parser.add_argument("command", choices=["check", "up", "set", "down"])
    parser.add_argument("--mode", help="stable | shadow | canary (set)")
    parser.add_argument("--percent", help="canary percent 0..100; 0 is the stable stage (set)")
    parser.add_argument("--no-build", action="store_true", help="run CHURN_IMAGE as it is (up)")
    args = parser.parse_args(argv)
    settings = ComposeSettings()
    try:
        if args.command == "check":
            print(f"compose: ready to serve the {check(settings)} stage")
        elif args.command == "up":
            stage = up(settings, build=not args.no_build)
            print(f"compose up: nginx {published_url()} in the {stage} stage; change it with make compose-set")
        elif args.command == "set":
            stage, number = set_stage(args.mode or settings.nginx_mode, args.percent or settings.canary_percent)
            print(f"nginx now in {stage}" + (f" ({number} %)" if stage == "canary" else ""))
        else:
            compose("down", "--volumes")
    except (ValueError, ComposeError) as exc:
        print(f"compose: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
