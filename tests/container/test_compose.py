"""compose.yaml on a real engine: one build, stable/shadow/canary, and stage switches that drop nothing.

Each test here is one finding from running the old compose.yaml as a new user
would: two builds and `unknown` labels, a stage change that recreated nginx
(25 of 259 requests refused), then one that reloaded it (keep-alive requests
lost), a mistyped NGINX_MODE or artifact folder that
Docker turned into an empty root-owned folder, no restart policy for nginx,
and a fixed project name shared by every checkout on one daemon.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deploy.drivers import compose
from deploy.drivers.traffic import customers, replay
from src import config
from src.config import ROOT
from src.processes import free_port, poll_until
from tests.container.conftest import artifact_folder, docker, labels, report, wait_stage
from tools.keepalive import SWITCHES, KeepAliveLoad, label, through_switches

SHARE_REQUESTS = 1000
CANARY_PERCENT = 25
SWITCH_CONNECTIONS = 2  # keep-alive clients per kind (/predict, /predict/batch)
SWITCH_DWELL = 1500  # requests per switch window, after the switch: thousands per switch


@dataclass(frozen=True)
class Compose:
    project: str
    url: str
    env: dict[str, str]

    def run(self, *args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return docker("compose", *args, check=check, cwd=ROOT, env={**os.environ, **self.env, **(env or {})})

    def logs(self, service: str) -> list[dict[str, Any]]:
        """The service's JSON log lines, read from Docker (compose's own `logs` adds terminal escapes)."""
        out = docker("logs", self.container_id(service)).stdout
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    def container_id(self, service: str) -> str:
        return self.run("ps", "--quiet", service).stdout.strip()


def project_env(readable_tmp: Path, image: str, name: str) -> dict[str, str]:
    folders = readable_tmp / name
    return {
        "COMPOSE_PROJECT_NAME": f"churn-test-{name}-{uuid.uuid4().hex[:6]}",
        "STACK_PORT": str(free_port()),
        "CHURN_IMAGE": image,
        "STABLE_DIR": str(artifact_folder(folders, "stable")),
        "CANDIDATE_DIR": str(artifact_folder(folders, "candidate")),
        "NGINX_MODE": "shadow",
        "CANARY_PERCENT": "5",
    }


@pytest.fixture(scope="module")
def stack(image: str, readable_tmp: Path) -> Iterator[Compose]:
    """compose.yaml up in shadow (unique project, free port on 127.0.0.1); always torn down with its volumes."""
    env = project_env(readable_tmp, image, "stack")
    handle = Compose(env["COMPOSE_PROJECT_NAME"], f"http://127.0.0.1:{env['STACK_PORT']}", env)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        started = time.monotonic()
        try:
            compose.up(compose.ComposeSettings(), build=False)
            report(f"compose up --wait (no build) healthy after {time.monotonic() - started:.1f} s")
            yield handle
        finally:
            handle.run("down", "--volumes", "--timeout", "5", check=False)


@pytest.fixture(scope="module")
def bodies() -> list[dict[str, Any]]:
    return customers(config.settings().churn_data)


def set_stage(mode: str, percent: int) -> None:
    compose.set_stage(mode, str(percent))


def test_compose_builds_the_image_once_with_the_commit_and_auc_labels(readable_tmp: Path, gated_pair: Path) -> None:
    tag = f"churn-service:test-compose-{uuid.uuid4().hex[:6]}"
    env = {**project_env(readable_tmp, tag, "build"), **compose.build_args()}
    handle = Compose(env["COMPOSE_PROJECT_NAME"], "", env)
    try:
        result = handle.run("build")
        built = re.findall(r"naming to (\S+)", result.stdout + result.stderr)
        assert len(built) == 1, f"compose built {len(built)} images ({built}); stable and candidate share one build"
        found = labels(tag)
        assert found["org.opencontainers.image.revision"] == env["REVISION"], "compose did not pass REVISION"
        assert found["io.churn-service.holdout-auc"] == env["HOLDOUT_AUC"], "compose did not pass HOLDOUT_AUC"
    finally:
        docker("rmi", "--force", tag, check=False)


def test_two_checkouts_get_two_projects_unless_compose_project_name_says_otherwise(readable_tmp: Path) -> None:
    names = []
    env = {k: v for k, v in os.environ.items() if k != "COMPOSE_PROJECT_NAME"}
    for checkout in ("checkout-a", "checkout-b"):
        folder = readable_tmp / checkout
        folder.mkdir()
        shutil.copy2(ROOT / "compose.yaml", folder / "compose.yaml")
        out = docker("compose", "config", "--format", "json", cwd=folder, env=env).stdout
        names.append(json.loads(out)["name"])
    assert names[0] != names[1], f"two checkouts both run as project {names[0]!r}: they would share containers"
    out = docker("compose", "config", "--format", "json", cwd=ROOT, env={**env, "COMPOSE_PROJECT_NAME": "mine"})
    assert json.loads(out.stdout)["name"] == "mine", "COMPOSE_PROJECT_NAME does not set the project name"


def test_shadow_mirrors_every_predict_to_the_candidate_under_the_same_request_id(stack: Compose, bodies) -> None:
    set_stage("shadow", 5)
    replies = list(replay(stack.url, bodies, 200))
    assert all(r.status == 200 and r.variant == "stable" for r in replies), (
        f"in shadow every answer must come from stable: {sorted({(r.status, r.variant) for r in replies}, key=str)}"
    )
    sent = {r.request_id for r in replies}
    assert None not in sent, "nginx did not return X-Request-ID"
    missing = set(sent)

    def all_logged() -> bool:
        missing.difference_update(
            e.get("request_id") for e in stack.logs("candidate") if e.get("event") == "prediction"
        )
        return not missing

    with contextlib.suppress(TimeoutError):
        poll_until(all_logged, timeout=20, what="the candidate's log", interval=0.5)
    assert not missing, f"the candidate never logged {len(missing)} of {len(sent)} mirrored request ids"


def test_canary_sends_its_share_to_the_candidate_within_binomial_bounds(stack: Compose, bodies) -> None:
    set_stage("canary", CANARY_PERCENT)
    replies = list(replay(stack.url, bodies, SHARE_REQUESTS))
    assert all(r.status == 200 for r in replies), "a canary request failed"
    to_candidate = sum(r.variant == "candidate" for r in replies)
    p = CANARY_PERCENT / 100
    bound = 4.5 * math.sqrt(SHARE_REQUESTS * p * (1 - p))  # 4.5 sigma: a false alarm about once in 150,000 runs
    report(f"canary share: {to_candidate} of {SHARE_REQUESTS} to candidate ({to_candidate / SHARE_REQUESTS:.1%})")
    assert abs(to_candidate - SHARE_REQUESTS * p) <= bound, (
        f"{to_candidate} of {SHARE_REQUESTS} went to the candidate at {CANARY_PERCENT} %: outside "
        f"{SHARE_REQUESTS * p:.0f} +- {bound:.0f}; is split_clients hashing a constant?"
    )


def test_a_canary_at_0_percent_is_the_stable_stage_not_a_dead_nginx(stack: Compose, bodies) -> None:
    set_stage("canary", 0)
    wait_stage(stack.url, {"mode": "stable"}, timeout=10)
    replies = list(replay(stack.url, bodies, 100))
    assert all(r.status == 200 and r.variant == "stable" for r in replies), "canary 0 % must send everything to stable"


def test_a_mistyped_stage_is_refused_in_one_line_and_nginx_keeps_serving(stack: Compose) -> None:
    set_stage("canary", 10)
    env = {**os.environ, **stack.env}
    for args in (
        ["--mode", "canery"],
        ["--mode", "canary", "--percent", "101"],
        ["--mode", "canary", "--percent", "x"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "deploy.compose", "set", *args], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert result.returncode != 0, f"compose set {args} was accepted"
        assert len(result.stderr.strip().splitlines()) == 1, (
            f"compose set {args} said more than one line:\n{result.stderr}"
        )
    wait_stage(stack.url, {"mode": "canary", "candidate_percent": 10}, timeout=5)
    assert not (ROOT / "nginx" / "canery.conf.template").exists(), "a typo created nginx/canery.conf.template"


def test_four_switches_under_keep_alive_traffic_lose_no_request_raw_or_retried(stack: Compose, bodies) -> None:
    """The issue's walkthrough: `make compose-up MODE=stable`, then shadow, canary 25, canary 50, stable.

    A reload used to close idle keep-alive connections a client was sending on
    (15 of 11,954 requests lost over 8 switches, 2026-12); the switch now only
    rewrites files nginx reads per request. Counted raw and after the one retry.
    """
    before = stack.container_id("nginx")
    set_stage("stable", 0)
    with KeepAliveLoad(stack.url, bodies, SWITCH_CONNECTIONS) as load:
        tally = through_switches(load, set_stage, dwell_requests=SWITCH_DWELL)
    report("compose, 4 switches under keep-alive load:\n" + tally.table())
    for mode, percent in SWITCHES:
        window = tally.total(label(mode, percent))
        assert window.sent >= SWITCH_DWELL, f"only {window.sent} requests around the {mode} switch: no real load"
        assert window.lost == 0, f"switching to {label(mode, percent)} lost {window.lost} requests: {window.errors}"
        assert window.raw_lost == 0, (
            f"switching to {label(mode, percent)} closed {window.raw_lost} of {window.sent} keep-alive requests "
            f"under their clients ({window.errors}): does compose-set reload nginx again?"
        )
    assert tally.total("canary 50").candidate > 0, "canary 50 sent nothing to the candidate: the switch did not switch"
    after = list(replay(stack.url, bodies, 50))
    assert {r.variant for r in after} == {"stable"}, "after the switch to stable, the candidate still answered"
    assert stack.container_id("nginx") == before, "a stage change recreated the nginx container"


def test_a_crashed_nginx_restarts_in_the_stage_it_was_set_to(stack: Compose) -> None:
    set_stage("canary", 30)
    stack.run("exec", "-T", "nginx", "nginx", "-s", "stop", check=False)
    wait_stage(stack.url, {"mode": "canary", "candidate_percent": 30}, timeout=60)
    restarts = docker("inspect", stack.container_id("nginx"), "--format", "{{.RestartCount}}").stdout.strip()
    assert int(restarts) >= 1, "nginx answers but never restarted: was it stopped at all?"


def test_a_mistyped_nginx_mode_creates_no_folder_and_says_why(image: str, readable_tmp: Path) -> None:
    env = {**project_env(readable_tmp, image, "typo"), "NGINX_MODE": "canery"}
    handle = Compose(env["COMPOSE_PROJECT_NAME"], "", env)
    try:
        handle.run("up", "--detach", "--no-deps", "--no-build", "nginx", check=False)
        logs = [""]

        def named() -> bool:
            result = handle.run("logs", "--no-color", "nginx", check=False)
            logs[0] = result.stdout + result.stderr
            return "NGINX_MODE must be one of" in logs[0]

        with contextlib.suppress(TimeoutError):
            poll_until(named, timeout=30, what="nginx's log", interval=0.5)
        assert "NGINX_MODE must be one of" in logs[0], f"nginx did not name the bad NGINX_MODE:\n{logs[0][-1500:]}"
        assert not (ROOT / "nginx" / "canery.conf.template").exists(), (
            "Docker created nginx/canery.conf.template: a stage template is still bind-mounted by name"
        )
    finally:
        handle.run("down", "--volumes", "--timeout", "2", check=False)


def test_a_missing_artifact_folder_fails_in_one_line_before_docker_creates_it(image: str, readable_tmp: Path) -> None:
    typo = readable_tmp / "typo-folder" / "stabel"
    env = {**project_env(readable_tmp, image, "missing"), "STABLE_DIR": str(typo)}
    handle = Compose(env["COMPOSE_PROJECT_NAME"], "", env)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "deploy.compose", "up", "--no-build"],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
        )
        assert result.returncode != 0, f"compose up accepted STABLE_DIR={typo}"
        assert "STABLE_DIR" in result.stderr, f"the refusal does not name STABLE_DIR:\n{result.stderr}"
        assert len(result.stderr.strip().splitlines()) == 1, f"more than one line:\n{result.stderr}"
        plain = handle.run("up", "--detach", "--no-deps", "--no-build", "stable", check=False)
        assert plain.returncode != 0, "plain `docker compose up` started a service on a missing artifact folder"
        assert not typo.exists(), f"Docker created {typo}: the bind mount lacks create_host_path: false"
    finally:
        handle.run("down", "--volumes", "--timeout", "2", check=False)
