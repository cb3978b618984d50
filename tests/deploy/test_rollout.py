"""The rollout controller on real stacks: a healthy candidate is promoted; a broken one is
rolled back before it costs users, and the production baseline stays byte-identical."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from deploy.rollout import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_PROMOTED, EXIT_ROLLED_BACK, RolloutSettings, main, run
from deploy.stack import Stack, StackSettings
from src import artifacts, record
from src.config import ROOT
from src.make_dataset import generate, write
from src.train import run as train
from tests.conftest import gated as gate
from tests.processes import free_port

FAST = RolloutSettings(window_requests=150, min_requests=40, inconclusive_retries=1, inconclusive_wait_s=0.5)


@pytest.fixture(scope="module")
def customers_df() -> pd.DataFrame:
    """Large enough for every gate check (contract slices need 200 holdout rows)."""
    return generate(seed=11, n=5000)


@pytest.fixture(scope="module")
def stable_dir(customers_df: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Today's production model, and the snapshot whose customers the rollout replays."""
    folder = tmp_path_factory.mktemp("stable")
    write(customers_df, folder / "snapshot.csv")
    gate(folder / "snapshot.csv", folder)
    return folder


@pytest.fixture(scope="module")
def baseline(stable_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """prod_metrics.json of today's production model: the stable artifact's metrics."""
    path = tmp_path_factory.mktemp("prod") / "prod_metrics.json"
    shutil.copyfile(stable_dir / artifacts.METRICS_FILE, path)
    return path


@pytest.fixture(scope="module")
def healthy_candidate(stable_dir: Path, baseline: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same model family with another seed, gated for real."""
    return gate(stable_dir / "snapshot.csv", tmp_path_factory.mktemp("healthy"), baseline, seed=7)


@pytest.fixture(scope="module")
def skewed_candidate(customers_df: pd.DataFrame, baseline: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trained on charges exported in cents: passes its own gate, then meets dollars in serving."""
    folder = tmp_path_factory.mktemp("skewed")
    cents = customers_df.assign(
        monthly_charges=customers_df["monthly_charges"] * 100, total_charges=customers_df["total_charges"] * 100
    )
    write(cents, folder / "cents.csv")
    return gate(folder / "cents.csv", folder, baseline)


@pytest.fixture
def stack_cfg(stable_dir: Path, tmp_path: Path) -> Iterator[StackSettings]:
    cfg = StackSettings(
        stable_model=stable_dir / artifacts.MODEL_FILE,
        port=free_port(),
        stable_port=free_port(),
        candidate_port=free_port(),
        prometheus_port=free_port(),
        stack_dir=tmp_path / "stack",
    )
    yield cfg
    if (cfg.stack_dir / "state.json").exists():
        Stack.attach(cfg.stack_dir).down()


@pytest.fixture
def prod(baseline: Path, tmp_path: Path) -> Path:
    path = tmp_path / "prod_metrics.json"
    shutil.copyfile(baseline, path)
    return path


def _rollout(stack_cfg: StackSettings, prod: Path, snapshot: Path, cfg: RolloutSettings = FAST) -> tuple[int, dict]:
    report = stack_cfg.stack_dir / "rollout.json"
    code = run(stack_cfg, cfg, prod, report, snapshot, out=lambda line: None)
    return code, json.loads(report.read_text())


def _nginx_mode(cfg: StackSettings) -> str:
    return httpx.get(f"{cfg.url}/health").json()["mode"]


def test_a_healthy_candidate_goes_through_every_step_and_is_promoted(
    stack_cfg: StackSettings, prod: Path, healthy_candidate: Path, stable_dir: Path
) -> None:
    cfg = stack_cfg.model_copy(update={"candidate_model": healthy_candidate})
    code, report = _rollout(cfg, prod, stable_dir / "snapshot.csv")
    assert code == EXIT_PROMOTED, report["reason"]
    assert [s["stage"] for s in report["steps"]] == ["shadow", "canary 5%", "canary 25%", "canary 50%", "canary 100%"]
    assert all(s["verdict"] == "pass" for s in report["steps"]), report["steps"]
    candidate_metrics = record.read(healthy_candidate.with_name(artifacts.METRICS_FILE))
    assert record.read(prod) == candidate_metrics, "promotion must ratchet prod_metrics.json to the candidate"
    previous = prod.with_name("prod_metrics.previous.json")
    assert previous.read_bytes() == (stable_dir / artifacts.METRICS_FILE).read_bytes(), "old baseline kept"
    assert _nginx_mode(cfg) == "stable"
    served = httpx.get(f"{cfg.service_url('stable')}/health").json()
    assert served["model_sha256"] == candidate_metrics.model_sha256, "after promotion stable serves the candidate"


@pytest.mark.parametrize(
    ("fault", "skip_shadow", "failing_stage", "reason"),
    [
        ({"FAULT_ERROR_RATE": "0.5"}, False, "shadow", "candidate success"),
        ({"FAULT_DELAY_S": "0.02"}, False, "shadow", "candidate p99"),
        ({"FAULT_ERROR_RATE": "0.5"}, True, "canary 5%", "candidate success"),
    ],
    ids=["500s-at-shadow", "10x-slower-at-shadow", "500s-at-first-canary-step"],
)
def test_a_broken_candidate_is_rolled_back_and_the_baseline_untouched(
    stack_cfg: StackSettings,
    prod: Path,
    healthy_candidate: Path,
    stable_dir: Path,
    fault: dict,
    skip_shadow: bool,
    failing_stage: str,
    reason: str,
) -> None:
    cfg = stack_cfg.model_copy(
        update={"candidate_model": healthy_candidate, "candidate_app": "deploy.faulty:app", "candidate_env": fault}
    )
    before = prod.read_bytes()
    code, report = _rollout(
        cfg, prod, stable_dir / "snapshot.csv", FAST.model_copy(update={"skip_shadow": skip_shadow})
    )
    assert code == EXIT_ROLLED_BACK
    assert report["outcome"] == "rolled_back"
    assert report["steps"][-1]["stage"] == failing_stage, f"caught at {report['steps'][-1]['stage']}"
    assert reason in report["reason"], report["reason"]
    assert prod.read_bytes() == before, "a rolled-back candidate must not touch prod_metrics.json"
    assert _nginx_mode(cfg) == "stable", "after a rollback every request must go to stable"


def test_train_serve_skew_is_caught_in_shadow(
    stack_cfg: StackSettings, prod: Path, skewed_candidate: Path, stable_dir: Path
) -> None:
    cfg = stack_cfg.model_copy(update={"candidate_model": skewed_candidate})
    before = prod.read_bytes()
    code, report = _rollout(cfg, prod, stable_dir / "snapshot.csv")
    assert code == EXIT_ROLLED_BACK
    assert report["steps"][-1]["stage"] == "shadow"
    assert "score PSI" in report["reason"], report["reason"]
    assert prod.read_bytes() == before


def test_an_idle_canary_is_inconclusive_never_promoted(
    stack_cfg: StackSettings, prod: Path, healthy_candidate: Path, stable_dir: Path
) -> None:
    cfg = stack_cfg.model_copy(update={"candidate_model": healthy_candidate})
    before = prod.read_bytes()
    idle = FAST.model_copy(update={"traffic": "none", "skip_shadow": True})
    code, report = _rollout(cfg, prod, stable_dir / "snapshot.csv", idle)
    assert code == EXIT_ROLLED_BACK, "no traffic is no evidence: it must not pass"
    assert "inconclusive" in report["reason"], report["reason"]
    assert prod.read_bytes() == before
    assert _nginx_mode(cfg) == "stable"


def test_an_ungated_candidate_is_refused(
    stack_cfg: StackSettings, stable_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train(stable_dir / "snapshot.csv", tmp_path)  # trained, never gated
    code = main(["--stable", str(stack_cfg.stable_model), "--candidate", str(tmp_path / artifacts.MODEL_FILE)])
    assert code == EXIT_INPUT
    assert "did not pass the quality gate" in capsys.readouterr().err


def test_sigterm_mid_rollout_leaves_traffic_on_stable_and_the_stack_stoppable(
    stack_cfg: StackSettings, prod: Path, healthy_candidate: Path, stable_dir: Path
) -> None:
    env = {
        **os.environ,
        "STABLE_MODEL": str(stack_cfg.stable_model),
        "CANDIDATE_MODEL": str(healthy_candidate),
        "STACK_PORT": str(stack_cfg.port),
        "STABLE_PORT": str(stack_cfg.stable_port),
        "CANDIDATE_PORT": str(stack_cfg.candidate_port),
        "PROMETHEUS_PORT": str(stack_cfg.prometheus_port),
        "STACK_DIR": str(stack_cfg.stack_dir),
        "PROD_METRICS": str(prod),
        "ROLLOUT_MIN_REQUESTS": "40",
        "ROLLOUT_MAX_REQUESTS": "100000",
        "ROLLOUT_WINDOW_REQUESTS": "100000",  # the first canary step runs until it is stopped
    }
    before = prod.read_bytes()
    cmd = [sys.executable, "-m", "deploy.rollout", "--skip-shadow", "--data", str(stable_dir / "snapshot.csv")]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    state = stack_cfg.stack_dir / "state.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if state.exists() and json.loads(state.read_text())["config"]["mode"] == "canary":
            break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("the rollout never reached its first canary step")
    time.sleep(0.5)  # mid-window, traffic flowing
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, output
    assert _nginx_mode(stack_cfg) == "stable", "an interrupted rollout must leave users on stable"
    assert prod.read_bytes() == before
    down = subprocess.run(
        [sys.executable, "-m", "deploy.stack", "down"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert down.returncode == 0, down.stderr
    assert "stack down" in down.stdout
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{stack_cfg.url}/health", timeout=1)
