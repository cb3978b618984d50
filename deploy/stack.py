"""The local stack: stable + candidate services behind nginx, on 127.0.0.1.

The same topology docker compose describes, as plain processes: two uvicorn
services (each with its own artifact and MODEL_VARIANT) and Debian's nginx
rendering the same templates. `make stack-up` / `make stack-down` drive it;
the rollout controller and the tests use the `Stack` class directly.

    python -m deploy.stack up [--mode shadow|canary|stable] [--percent N]
    python -m deploy.stack set --mode canary --percent 25   # re-render + graceful reload
    python -m deploy.stack status | down
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from deploy import nginx
from src import artifacts, atomic
from src.config import ROOT

HOST = "127.0.0.1"
_LEFT_RUNNING: list[subprocess.Popen] = []


class StackSettings(BaseSettings):
    """The local stack (`make stack-up`): which models, which stage, which ports, where its files go."""

    model_config = SettingsConfigDict(env_ignore_empty=True, frozen=True, extra="ignore", populate_by_name=True)

    stable_model: Path = Field(ROOT / artifacts.MODEL_FILE, description="the model users have now")
    candidate_model: Path = Field(ROOT / artifacts.MODEL_FILE, description="the gated newcomer")
    mode: str = Field("shadow", description="stable, shadow or canary")
    canary_percent: int = Field(5, description="share of requests to the candidate in canary (0: the stable stage)")
    canary_sticky: bool = Field(False, description="on: hash X-Customer-ID so a customer always meets one model")
    port: int = Field(8080, alias="STACK_PORT", description="nginx, the stack's front door")
    stable_port: int = Field(8001, description="the stable service")
    candidate_port: int = Field(8002, description="the candidate service")
    shadow_timeout: str = Field("1s", description="how long nginx waits for a mirrored request")
    stack_dir: Path = Field(ROOT / ".stack", description="rendered config, pids, logs, rollout.json")
    candidate_app: str = Field(
        "app.main:app", description="another ASGI app for the candidate (fault drills: deploy.faulty:app)"
    )
    candidate_env: dict[str, str] = Field(default_factory=dict, description="extra environment for the candidate")

    def check(self) -> None:
        if self.mode not in nginx.MODES:
            raise ValueError(f"MODE must be one of {', '.join(nginx.MODES)}, not {self.mode!r}")
        if not 0 <= self.canary_percent <= 100:
            raise ValueError(f"CANARY_PERCENT must be 0..100, not {self.canary_percent}")
        for name, path in (("STABLE_MODEL", self.stable_model), ("CANDIDATE_MODEL", self.candidate_model)):
            if not path.is_file():
                raise ValueError(f"{name}={path}: no such artifact (run `make run` to produce one)")
            if not path.with_name(artifacts.METRICS_FILE).is_file():
                raise ValueError(f"{name}={path}: no metrics.json beside it")

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def service_url(self, variant: str) -> str:
        return f"http://{HOST}:{self.stable_port if variant == 'stable' else self.candidate_port}"


def template_values(cfg: StackSettings) -> dict[str, str]:
    """What envsubst fills in; a canary at 0 % is the stable stage (nginx rejects "0%")."""
    return {
        "STABLE_ADDR": f"{HOST}:{cfg.stable_port}",
        "CANDIDATE_ADDR": f"{HOST}:{cfg.candidate_port}",
        "NGINX_LISTEN": f"{HOST}:{cfg.port}",
        "NGINX_ACCESS_LOG": str(cfg.stack_dir / "nginx-access.log"),
        "CANARY_PERCENT": str(cfg.canary_percent),
        "CANARY_STICKY": "on" if cfg.canary_sticky else "off",
        "SHADOW_TIMEOUT": cfg.shadow_timeout,
    }


def effective_mode(cfg: StackSettings) -> str:
    return "stable" if cfg.mode == "canary" and cfg.canary_percent == 0 else cfg.mode


def _wait(url: str, proc: subprocess.Popen | None, timeout: float = 30.0, expect: dict | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}; see the logs in the stack folder")
        try:
            response = httpx.get(url, timeout=1.0)
            if response.status_code == 200 and all(response.json().get(k) == v for k, v in (expect or {}).items()):
                return
        except (httpx.TransportError, ValueError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not become ready{f' with {expect}' if expect else ''} in {timeout} s")


class Stack:
    """Start, reconfigure and stop the three processes; state lives in stack_dir/state.json."""

    def __init__(self, cfg: StackSettings) -> None:
        self.cfg = cfg
        self.procs: dict[str, subprocess.Popen] = {}

    # -- lifecycle -------------------------------------------------------
    def up(self) -> Stack:
        cfg = self.cfg
        cfg.check()
        cfg.stack_dir.mkdir(parents=True, exist_ok=True)
        if (cfg.stack_dir / "state.json").exists():
            raise RuntimeError(f"a stack is already running from {cfg.stack_dir}: `make stack-down` first")
        try:
            for variant in ("stable", "candidate"):
                self.procs[variant] = self._service(variant)
            conf = nginx.main_config(cfg.stack_dir)
            nginx.render(effective_mode(cfg), template_values(cfg), cfg.stack_dir / "conf.d")
            nginx.check(conf)
            self.procs["nginx"] = nginx.start(conf, cfg.stack_dir / "nginx.log")
            self._save()
            for variant in ("stable", "candidate"):
                _wait(f"{cfg.service_url(variant)}/health", self.procs[variant])
            _wait(f"{cfg.url}/health", self.procs["nginx"], expect={"mode": effective_mode(cfg)})
        except BaseException:
            self.down()
            raise
        return self

    def _service(self, variant: str) -> subprocess.Popen:
        cfg = self.cfg
        model = cfg.stable_model if variant == "stable" else cfg.candidate_model
        app = "app.main:app" if variant == "stable" else cfg.candidate_app
        port = cfg.stable_port if variant == "stable" else cfg.candidate_port
        env = {**os.environ, "MODEL_PATH": str(model.resolve()), "MODEL_VARIANT": variant}
        if variant == "candidate":
            env.update(cfg.candidate_env)
        cmd = [sys.executable, "-m", "uvicorn", app, "--host", HOST, "--port", str(port), "--no-access-log"]
        cmd += ["--http", "app.server:BoundedHttpToolsProtocol"]  # request heads bounded (app/server.py)
        with open(cfg.stack_dir / f"{variant}.log", "ab") as log:
            return subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def set_stage(self, mode: str, percent: int | None = None) -> None:
        """Re-render nginx for a new stage and reload it gracefully; returns once nginx serves it."""
        cfg = self.cfg.model_copy(
            update={"mode": mode, "canary_percent": self.cfg.canary_percent if percent is None else percent}
        )
        cfg.check()
        conf = cfg.stack_dir / "nginx.conf"
        nginx.render(effective_mode(cfg), template_values(cfg), cfg.stack_dir / "conf.d")
        nginx.check(conf)
        nginx.reload(self._pid("nginx"))
        expect = {"mode": effective_mode(cfg)}
        if effective_mode(cfg) == "canary":
            expect["candidate_percent"] = cfg.canary_percent
        # Old workers keep their open connections but may still accept a new one
        # for a moment after SIGHUP: several fresh connections in a row must agree.
        for _ in range(5):
            _wait(f"{cfg.url}/health", None, expect=expect)
        self.cfg = cfg
        self._save()

    def restart_service(self, variant: str, model: Path) -> None:
        """Replace one service's process with one serving `model` (promote: candidate becomes stable)."""
        old = self.procs.pop(variant, None)
        pid = old.pid if old else self._saved_pids().get(variant)
        if pid is not None:
            _stop(pid, signal.SIGTERM, old)
        key = "stable_model" if variant == "stable" else "candidate_model"
        self.cfg = self.cfg.model_copy(update={key: model})
        self.procs[variant] = self._service(variant)
        self._save()
        _wait(f"{self.cfg.service_url(variant)}/health", self.procs[variant])

    def detach(self) -> None:
        """Leave the processes running when this object goes away: `make stack-down` stops them later."""
        _LEFT_RUNNING.extend(self.procs.values())  # held, so no "still running" warning on collection
        self.procs.clear()

    def down(self) -> None:
        """Stop everything this stack started (nginx gracefully first), then forget it."""
        pids = {name: proc.pid for name, proc in self.procs.items()} or self._saved_pids()
        for name in ("nginx", "candidate", "stable"):
            if name in pids:
                _stop(pids[name], signal.SIGQUIT if name == "nginx" else signal.SIGTERM, self.procs.get(name))
        self.procs.clear()
        (self.cfg.stack_dir / "state.json").unlink(missing_ok=True)

    def __enter__(self) -> Stack:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- state -----------------------------------------------------------
    def _save(self) -> None:
        state = {
            "pids": {name: proc.pid for name, proc in self.procs.items()} or self._saved_pids(),
            "config": self.cfg.model_dump(mode="json"),
        }
        atomic.write_text(self.cfg.stack_dir / "state.json", json.dumps(state, indent=2))

    def _saved_pids(self) -> dict[str, int]:
        path = self.cfg.stack_dir / "state.json"
        return json.loads(path.read_text())["pids"] if path.exists() else {}

    def _pid(self, name: str) -> int:
        return self.procs[name].pid if name in self.procs else self._saved_pids()[name]

    @classmethod
    def attach(cls, stack_dir: Path) -> Stack:
        """The stack a previous `up` left running (for `set`, `status`, `down`)."""
        path = stack_dir / "state.json"
        if not path.exists():
            raise RuntimeError(f"no stack running from {stack_dir}")
        return cls(StackSettings(**json.loads(path.read_text())["config"]))


def _stop(pid: int, sig: signal.Signals, proc: subprocess.Popen | None = None, timeout: float = 10.0) -> None:
    """Signal, wait, and SIGKILL what is still there after `timeout`."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    if proc is not None:  # our own child: wait() also reaps it
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _gone(pid: int) -> bool:
    """True once pid has exited; reaps it when it is our own (detached) child."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:  # not our child: it is gone when signal 0 fails
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the stable/candidate/nginx stack on 127.0.0.1.")
    parser.add_argument("command", choices=["up", "set", "status", "down"])
    parser.add_argument("--mode", choices=nginx.MODES)
    parser.add_argument("--percent", type=int)
    args = parser.parse_args(argv)
    cfg = StackSettings()
    if args.mode:
        cfg = cfg.model_copy(update={"mode": args.mode})
    if args.percent is not None:
        cfg = cfg.model_copy(update={"canary_percent": args.percent})
    try:
        if args.command == "up":
            Stack(cfg).up()
            print(f"stack up: nginx {cfg.url} ({effective_mode(cfg)}", end="")
            print(f", {cfg.canary_percent} % to candidate)" if effective_mode(cfg) == "canary" else ")")
            print(f"  stable    {cfg.service_url('stable')}  {cfg.stable_model}")
            print(f"  candidate {cfg.service_url('candidate')}  {cfg.candidate_model}")
            print(f"  logs      {cfg.stack_dir}/   stop with: make stack-down")
        elif args.command == "set":
            stack = Stack.attach(cfg.stack_dir)
            stack.set_stage(args.mode or stack.cfg.mode, args.percent)
            mode = effective_mode(stack.cfg)
            print(f"nginx now in {mode}" + (f" ({stack.cfg.canary_percent} %)" if mode == "canary" else ""))
        elif args.command == "status":
            stack = Stack.attach(cfg.stack_dir)
            print(httpx.get(f"{stack.cfg.url}/health", timeout=2).text)
        else:
            try:
                Stack.attach(cfg.stack_dir).down()
            except RuntimeError:
                print("no stack running")
                return 0
            print("stack down")
    except (ValueError, RuntimeError, TimeoutError, FileNotFoundError, httpx.TransportError) as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
