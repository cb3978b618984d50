"""The rollout controller on real stacks: a healthy candidate is promoted; a broken one is
rolled back before it costs users, and the production baseline stays byte-identical."""

from __future__ import annotations

import html
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

from deploy.control.controller import run
from deploy.drivers.stack import Stack
from deploy.render import page as rollout_page
from deploy.rollout import main
from deploy.settings import RolloutSettings, StackSettings
from src import artifacts, exits, launcher, loopback, record
from src.config import ROOT
from src.make_dataset import generate, write
from src.processes import free_port
from src.train import run as train
from tests import browser
from tools.gated import gated as gate

# Small windows and two canary steps keep each rollout to seconds; the healthy promotion walks every default step.
FAST = RolloutSettings(
    steps=(25, 100),
    window_requests=150,
    shadow_requests=300,
    min_requests=40,
    inconclusive_retries=1,
    inconclusive_wait_s=0.5,
)


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
        prometheus=False,  # the log analysis judges these rollouts; tests/deploy/test_two_engines.py adds PromQL
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
    return loopback.get(f"{cfg.url}/stage").json()["mode"]


def test_a_healthy_candidate_goes_through_every_step_and_is_promoted(
    stack_cfg: StackSettings, prod: Path, healthy_candidate: Path, stable_dir: Path
) -> None:
    cfg = stack_cfg.model_copy(update={"candidate_model": healthy_candidate})
    code, report = _rollout(cfg, prod, stable_dir / "snapshot.csv", FAST.model_copy(update={"steps": (5, 25, 50, 100)}))
    assert code == exits.OK, report["reason"]
    assert [s["stage"] for s in report["steps"]] == ["shadow", "canary 5%", "canary 25%", "canary 50%", "canary 100%"]
    assert all(s["verdict"] == "pass" for s in report["steps"]), report["steps"]
    candidate_metrics = record.read(healthy_candidate.with_name(artifacts.METRICS_FILE))
    assert record.read(prod) == candidate_metrics, "promotion must ratchet prod_metrics.json to the candidate"
    previous = prod.with_name("prod_metrics.previous.json")
    assert previous.read_bytes() == (stable_dir / artifacts.METRICS_FILE).read_bytes(), "old baseline kept"
    assert _nginx_mode(cfg) == "stable"
    served = loopback.get(f"{cfg.service_url('stable')}/health").json()
    assert served["model_sha256"] == candidate_metrics.model_sha256, "after promotion stable serves the candidate"


@pytest.mark.parametrize(
    ("fault", "skip_shadow", "failing_stage", "reason"),
    [
        ({"FAULT_ERROR_RATE": "0.5"}, False, "shadow", "candidate success"),
        ({"FAULT_DELAY_S": "0.02"}, False, "shadow", "candidate slower"),
        ({"FAULT_ERROR_RATE": "0.5"}, True, "canary 25%", "candidate success"),
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
    tmp_path: Path,
) -> None:
    cfg = stack_cfg.model_copy(
        update={
            "candidate_model": healthy_candidate,
            "candidate_app": "deploy.drivers.faulty:app",
            "candidate_env": fault,
        }
    )
    before = prod.read_bytes()
    code, report = _rollout(
        cfg, prod, stable_dir / "snapshot.csv", FAST.model_copy(update={"skip_shadow": skip_shadow})
    )
    assert code == exits.NO
    assert report["outcome"] == "rolled_back"
    assert report["steps"][-1]["stage"] == failing_stage, f"caught at {report['steps'][-1]['stage']}"
    assert reason in report["reason"], report["reason"]
    assert prod.read_bytes() == before, "a rolled-back candidate must not touch prod_metrics.json"
    assert _nginx_mode(cfg) == "stable", "after a rollback every request must go to stable"
    _page_says_why(cfg.stack_dir / rollout_page.PAGE_FILE, report, tmp_path)


def _page_says_why(page: Path, report: dict, tmp_path: Path) -> None:
    """The rollout page beside the record, drawn in a real Chromium: rolled back, and why, in its outcome section."""
    assert page.is_file(), "the rollout must write rollout.html beside rollout.json"
    rendered = browser.render(page, tmp_path / "rollout.png")
    assert browser.section_ids(rendered.dom) == list(rollout_page.SECTIONS)
    outcome = rendered.dom.split('<section id="outcome">')[1].split("</section>")[0]
    assert "rolled back" in outcome, outcome
    assert html.escape(report["reason"], quote=False) in outcome, "the page must say why it rolled back"
    failing = report["steps"][-1]["stage"]
    assert f'<tr class="fail"><td>{failing}</td>' in rendered.dom, f"the failing window {failing} must be marked"
    assert rendered.ink() > 0.03, "the screenshot is nearly blank"


def test_a_candidate_slow_on_3_percent_of_requests_is_caught_in_shadow(
    stack_cfg: StackSettings, prod: Path, healthy_candidate: Path, stable_dir: Path
) -> None:
    fault = {"FAULT_DELAY_S": "0.1", "FAULT_SLOW_SHARE": "0.03"}
    cfg = stack_cfg.model_copy(
        update={
            "candidate_model": healthy_candidate,
            "candidate_app": "deploy.drivers.faulty:app",
            "candidate_env": fault,
        }
    )
    code, report = _rollout(cfg, prod, stable_dir / "snapshot.csv", FAST.model_copy(update={"shadow_requests": 1500}))
    assert code == exits.NO, "3 % of requests 100 ms slower must not reach users"
    assert report["steps"][-1]["stage"] == "shadow"
    assert "candidate slower" in report["reason"], report["reason"]


def test_train_serve_skew_is_caught_in_shadow(
    stack_cfg: StackSettings, prod: Path, skewed_candidate: Path, stable_dir: Path
) -> None:
    cfg = stack_cfg.model_copy(update={"candidate_model": skewed_candidate})
    before = prod.read_bytes()
    gated_on = FAST.model_copy(update={"gate_data": skewed_candidate.with_name("cents.csv")})
    code, report = _rollout(cfg, prod, stable_dir / "snapshot.csv", gated_on)
    assert code == exits.NO
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
    assert code == exits.NO, "no traffic is no evidence: it must not pass"
    assert "inconclusive" in report["reason"], report["reason"]
    assert prod.read_bytes() == before
    assert _nginx_mode(cfg) == "stable"


def test_an_ungated_candidate_is_refused(
    stack_cfg: StackSettings, stable_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train(stable_dir / "snapshot.csv", tmp_path)  # trained, never gated
    code = main(["--stable", str(stack_cfg.stable_model), "--candidate", str(tmp_path / artifacts.MODEL_FILE)])
    assert code == exits.REFUSED
    assert "did not pass the quality gate" in capsys.readouterr().err


def _env(stack_cfg: StackSettings, candidate: Path, prod: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "STABLE_MODEL": str(stack_cfg.stable_model),
        "CANDIDATE_MODEL": str(candidate),
        "STACK_PORT": str(stack_cfg.port),
        "STABLE_PORT": str(stack_cfg.stable_port),
        "CANDIDATE_PORT": str(stack_cfg.candidate_port),
        "PROMETHEUS_PORT": str(stack_cfg.prometheus_port),
        "PROMETHEUS": "false",
        "STACK_DIR": str(stack_cfg.stack_dir),
        "PROD_METRICS": str(prod),
        "ROLLOUT_MIN_REQUESTS": "40",
        "ROLLOUT_WINDOW_REQUESTS": "150",
        "ROLLOUT_SHADOW_REQUESTS": "300",
        "ROLLOUT_STEPS": "50,100",  # the promotion is what these tests drive; two steps reach it
        **extra,
    }


def _start_rollout(env: dict[str, str], snapshot: Path) -> subprocess.Popen[str] | launcher.Launched:
    cmd = [sys.executable, "-m", "deploy.rollout", "--skip-shadow", "--data", str(snapshot)]
    return launcher.launch(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _ended(proc: subprocess.Popen[str] | launcher.Launched, timeout: float = 90.0) -> str:
    """The rollout's output once it exits; one that hangs is killed (never left running) and fails the test."""
    try:
        return proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"the rollout did not end within {timeout:.0f} s:\n{proc.communicate()[0][-3000:]}")


def _wait_for(condition, proc: subprocess.Popen[str] | launcher.Launched, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            pytest.fail(f"the rollout exited ({proc.returncode}) before {what}:\n{proc.stdout.read()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"the rollout never reached {what}")


def _state(stack_cfg: StackSettings) -> dict:
    path = stack_cfg.stack_dir / "state.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _in_canary(stack_cfg: StackSettings, percent: int) -> bool:
    config = _state(stack_cfg).get("config", {})
    return config.get("mode") == "canary" and config.get("canary_percent") == percent


def _predictions(stack_cfg: StackSettings) -> int:
    """Prediction lines both services have logged so far (read live: counted, not parsed)."""
    logs = (stack_cfg.stack_dir / f"{variant}.log" for variant in ("stable", "candidate"))
    return sum(log.read_text().count('{"event":"prediction"') for log in logs if log.exists())


def _stack_down(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return launcher.run(
        [sys.executable, "-m", "deploy.stack", "down"], cwd=ROOT, env=env, capture_output=True, text=True
    )


def _consistent(stack_cfg: StackSettings, prod: Path) -> str:
    """nginx on a live stable process, and prod_metrics.json describing the model it serves."""
    assert _nginx_mode(stack_cfg) == "stable", "users are not on the stable stage"
    served = loopback.get(f"{stack_cfg.service_url('stable')}/health", timeout=2).json()["model_sha256"]
    assert record.read(prod).model_sha256 == served, "prod_metrics.json does not describe the model stable serves"
    return served


def test_sigterm_mid_rollout_leaves_traffic_on_stable_and_the_stack_stoppable(
    stack_cfg: StackSettings, prod: Path, healthy_candidate: Path, stable_dir: Path
) -> None:
    env = _env(stack_cfg, healthy_candidate, prod, ROLLOUT_MAX_REQUESTS="100000", ROLLOUT_WINDOW_REQUESTS="100000")
    before = prod.read_bytes()
    proc = _start_rollout(env, stable_dir / "snapshot.csv")
    _wait_for(lambda: _in_canary(stack_cfg, 50), proc, "its first canary step")
    served = _predictions(stack_cfg)
    _wait_for(lambda: _predictions(stack_cfg) >= served + 10, proc, "canary traffic (mid-window)")
    proc.send_signal(signal.SIGTERM)
    output = _ended(proc)
    assert proc.returncode == exits.INTERRUPTED, output
    assert _nginx_mode(stack_cfg) == "stable", "an interrupted rollout must leave users on stable"
    assert prod.read_bytes() == before
    down = _stack_down(env)
    assert down.returncode == 0, down.stderr
    assert "stack down" in down.stdout
    with pytest.raises(httpx.TransportError):
        loopback.get(f"{stack_cfg.url}/stage", timeout=1)


def test_sigterm_during_promotion_waits_for_a_consistent_end(
    stack_cfg: StackSettings, prod: Path, healthy_candidate: Path, stable_dir: Path
) -> None:
    env = _env(stack_cfg, healthy_candidate, prod, ROLLOUT_DRILL_PAUSE_AT="stable-restarted", ROLLOUT_DRILL_PAUSE_S="3")
    proc = _start_rollout(env, stable_dir / "snapshot.csv")
    _wait_for(lambda: (stack_cfg.stack_dir / "drill.stable-restarted").exists(), proc, "the middle of its promotion")
    proc.send_signal(signal.SIGTERM)
    output = _ended(proc)
    assert proc.returncode == exits.OK, f"a signal mid-promotion must wait for its end:\n{output}"
    served = _consistent(stack_cfg, prod)
    assert served == record.read(healthy_candidate.with_name(artifacts.METRICS_FILE)).model_sha256
    assert not (stack_cfg.stack_dir / "promote.json").exists(), "a finished promotion left its intent behind"


@pytest.mark.parametrize(
    ("phase", "finished"),
    [("intent-written", False), ("stable-restarted", True)],
    ids=["before-the-restart", "after-the-restart"],
)
def test_sigkill_mid_promotion_is_finished_or_undone_by_the_next_command(
    stack_cfg: StackSettings, prod: Path, healthy_candidate: Path, stable_dir: Path, phase: str, finished: bool
) -> None:
    env = _env(stack_cfg, healthy_candidate, prod, ROLLOUT_DRILL_PAUSE_AT=phase, ROLLOUT_DRILL_PAUSE_S="30")
    before = prod.read_bytes()
    proc = _start_rollout(env, stable_dir / "snapshot.csv")
    _wait_for(lambda: (stack_cfg.stack_dir / f"drill.{phase}").exists(), proc, f"promotion step {phase}")
    proc.kill()
    proc.communicate(timeout=30)
    assert (stack_cfg.stack_dir / "promote.json").exists(), "the killed promotion recorded no intent"
    recovered = launcher.run(
        [sys.executable, "-m", "deploy.rollout", "--recover"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert recovered.returncode == 0, recovered.stderr
    assert ("finished" if finished else "undid") in recovered.stdout, recovered.stdout
    served = _consistent(stack_cfg, prod)
    candidate_sha = record.read(healthy_candidate.with_name(artifacts.METRICS_FILE)).model_sha256
    assert (served == candidate_sha) == finished
    if not finished:
        assert prod.read_bytes() == before, "an undone promotion changed the baseline"


def test_a_baseline_that_cannot_be_written_rolls_the_promotion_back(
    stack_cfg: StackSettings, prod: Path, healthy_candidate: Path, stable_dir: Path
) -> None:
    prod.with_name("prod_metrics.previous.json").mkdir()  # the write of the old baseline's copy fails
    before = prod.read_bytes()
    cfg = stack_cfg.model_copy(update={"candidate_model": healthy_candidate})
    code, report = _rollout(cfg, prod, stable_dir / "snapshot.csv", FAST.model_copy(update={"skip_shadow": True}))
    assert code == exits.NO, report["reason"]
    assert "could not be written" in report["reason"], report["reason"]
    assert prod.read_bytes() == before
    _consistent(cfg, prod)
    assert not list(prod.parent.glob(".*.tmp")), "a failed write left a temp file"


def test_a_stable_process_dying_mid_canary_fails_no_user_and_aborts(
    stack_cfg: StackSettings, prod: Path, healthy_candidate: Path, stable_dir: Path
) -> None:
    env = _env(
        stack_cfg,
        healthy_candidate,
        prod,
        ROLLOUT_STEPS="25,100",
        ROLLOUT_MAX_REQUESTS="100000",
        ROLLOUT_WINDOW_REQUESTS="100000",
    )
    before = prod.read_bytes()
    proc = _start_rollout(env, stable_dir / "snapshot.csv")
    access = stack_cfg.stack_dir / "nginx-access.log"
    _wait_for(lambda: _in_canary(stack_cfg, 25), proc, "canary 25 %")
    served_before = len(access.read_text().splitlines())
    _wait_for(lambda: len(access.read_text().splitlines()) >= served_before + 50, proc, "users at canary 25 %")
    os.kill(_state(stack_cfg)["pids"]["stable"], signal.SIGKILL)
    output = _ended(proc)
    assert proc.returncode == exits.NO, output
    assert "the stable process died" in output, output
    statuses = [
        json.loads(line)["status"] for line in (stack_cfg.stack_dir / "nginx-access.log").read_text().splitlines()
    ]
    assert statuses, "no traffic reached nginx"
    assert set(statuses) == {"200"}, f"{len(statuses) - statuses.count('200')} users got an error while stable died"
    _consistent(stack_cfg, prod)
    assert prod.read_bytes() == before


def test_a_dead_nginx_master_is_detected_replaced_and_fully_stopped(
    stack_cfg: StackSettings, prod: Path, healthy_candidate: Path, stable_dir: Path
) -> None:
    env = _env(stack_cfg, healthy_candidate, prod, ROLLOUT_MAX_REQUESTS="100000", ROLLOUT_WINDOW_REQUESTS="100000")
    proc = _start_rollout(env, stable_dir / "snapshot.csv")
    _wait_for(lambda: _in_canary(stack_cfg, 50), proc, "its first canary step")
    os.kill(_state(stack_cfg)["pids"]["nginx"], signal.SIGKILL)  # its worker lives on, holding the port
    output = _ended(proc)
    assert proc.returncode == exits.NO, output
    assert "nginx process died" in output, output
    assert _nginx_mode(stack_cfg) == "stable", "the replacement nginx is not on the stable stage"
    down = _stack_down(env)
    assert down.returncode == 0, down.stderr
    with pytest.raises(httpx.TransportError):
        loopback.get(f"{stack_cfg.url}/stage", timeout=1)
