"""The local stack: stable + candidate services behind nginx, on 127.0.0.1.

The same topology docker compose describes, as plain processes: two uvicorn
services (each with its own artifact and MODEL_VARIANT) and Debian's nginx
rendering the same templates. `make stack-up` / `make stack-down` drive it;
the rollout controller and the tests use the `Stack` class directly.

    python -m deploy.stack up [--mode shadow|canary|stable] [--percent N]
    python -m deploy.stack set --mode canary --percent 25   # rewrite the stage files: no reload
    python -m deploy.stack status | down
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from deploy import nginx, prometheus
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
    prometheus: bool = Field(
        True, description="also run Prometheus scraping both services (false: a lighter stack, log analysis only)"
    )
    prometheus_port: int = Field(
        9090, description="Prometheus, scraping both services every second (deploy/prometheus.py)"
    )
    shadow_timeout: str = Field("1s", description="how long nginx waits for a mirrored request")
    stack_dir: Path = Field(ROOT / ".stack", description="rendered config, pids, logs, rollout.json")
    candidate_app: str = Field(
        "app.main:app", description="another ASGI app for the candidate (fault drills: deploy.faulty:app)"
    )
    candidate_env: dict[str, str] = Field(default_factory=dict, description="extra environment for the candidate")

    def check(self) -> None:
        nginx.stage(self.mode, self.canary_percent)
        for name, path in (("STABLE_MODEL", self.stable_model), ("CANDIDATE_MODEL", self.candidate_model)):
            if not path.is_file():
                raise ValueError(f"{name}={path}: no such artifact (run `make run` to produce one)")
            if not path.with_name(artifacts.METRICS_FILE).is_file():
                raise ValueError(f"{name}={path}: no metrics.json beside it")

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://{HOST}:{self.prometheus_port}"

    def service_url(self, variant: str) -> str:
        return f"http://{HOST}:{self.stable_port if variant == 'stable' else self.candidate_port}"


def template_values(cfg: StackSettings) -> dict[str, str]:
    """What envsubst fills in: the same for every stage (the stage itself is files in stage_dir())."""
    return {
        "STABLE_ADDR": f"{HOST}:{cfg.stable_port}",
        "CANDIDATE_ADDR": f"{HOST}:{cfg.candidate_port}",
        "NGINX_LISTEN": f"{HOST}:{cfg.port}",
        "NGINX_ACCESS_LOG": str(cfg.stack_dir / "nginx-access.log"),
        "STAGE_DIR": str(stage_dir(cfg)),
        "CANARY_STICKY": "on" if cfg.canary_sticky else "off",
        "SHADOW_TIMEOUT": cfg.shadow_timeout,
    }


def stage_dir(cfg: StackSettings) -> Path:
    """The files nginx reads per request to choose the stage (deploy/nginx.py write_stage)."""
    return cfg.stack_dir.resolve() / "stage"


def effective_mode(cfg: StackSettings) -> str:
    return nginx.stage(cfg.mode, cfg.canary_percent)[0]


# A failure to start is seen at once (the process exits); this bound only catches a hang, so it is
# generous: a service needs ~2 s of CPU to import and load, much longer on a machine at load 14.
STARTUP_TIMEOUT_S = 120.0


def _wait(
    url: str, proc: subprocess.Popen | None, timeout: float = STARTUP_TIMEOUT_S, expect: dict | None = None
) -> None:
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


def check_ports_free(cfg: StackSettings) -> None:
    """Refuse a taken port before starting anything: otherwise it surfaces as "exited with 1; see the logs"."""
    ports = {"STACK_PORT": cfg.port, "STABLE_PORT": cfg.stable_port, "CANDIDATE_PORT": cfg.candidate_port}
    if cfg.prometheus:
        ports["PROMETHEUS_PORT"] = cfg.prometheus_port
    for variable, port in ports.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed stack's TIME_WAIT is not "taken"
            try:
                probe.bind((HOST, port))
            except OSError:
                raise RuntimeError(
                    f"port {port} ({variable}) is already in use on {HOST}: stop what holds it "
                    f"(`ss -ltnp 'sport = :{port}'`) or choose another, e.g. `{variable}={port + 100} make stack-up`"
                ) from None


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
        check_ports_free(cfg)
        try:
            for variant in ("stable", "candidate"):
                self.procs[variant] = self._service(variant)
            conf = nginx.main_config(cfg.stack_dir)
            nginx.render(template_values(cfg), cfg.stack_dir / "conf.d")
            nginx.write_stage(stage_dir(cfg), cfg.mode, cfg.canary_percent)
            nginx.check(conf)
            self.procs["nginx"] = nginx.start(conf, cfg.stack_dir / "nginx.log")
            if cfg.prometheus:
                self.procs["prometheus"] = self._prometheus()
            self._save()
            for variant in ("stable", "candidate"):
                _wait(f"{cfg.service_url(variant)}/health", self.procs[variant])
            if cfg.prometheus:
                prometheus.wait_scraping(cfg.prometheus_url, 2, self.procs["prometheus"])
            _wait(f"{cfg.url}/stage", self.procs["nginx"], expect={"mode": effective_mode(cfg)})
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

    def _prometheus(self) -> subprocess.Popen:
        cfg = self.cfg
        targets = {v: cfg.service_url(v).removeprefix("http://") for v in ("stable", "candidate")}
        config = prometheus.render(targets, cfg.stack_dir)
        address = f"{HOST}:{cfg.prometheus_port}"
        return prometheus.start(config, address, cfg.stack_dir / "prometheus-data", cfg.stack_dir / "prometheus.log")

    def set_stage(self, mode: str, percent: int | None = None) -> None:
        """Switch the stage nginx serves by rewriting its stage files; returns once nginx reports it.

        No reload: a reload's old workers close idle keep-alive connections, and
        a client already sending its next request on one lost it (docs/deployment.md
        "Switching stage under keep-alive traffic"). nginx reads the files per request.
        """
        cfg = self.cfg.model_copy(
            update={"mode": mode, "canary_percent": self.cfg.canary_percent if percent is None else percent}
        )
        cfg.check()
        if not self.alive("nginx"):
            raise ProcessDied("nginx", f"nginx master (pid {self._pid('nginx')}) is gone; nothing serves a stage")
        nginx.write_stage(stage_dir(cfg), cfg.mode, cfg.canary_percent)
        self.cfg = cfg
        self._save()
        self._wait_stage()

    def _wait_stage(self) -> None:
        cfg = self.cfg
        expect = {"mode": effective_mode(cfg)}
        if effective_mode(cfg) == "canary":
            expect["candidate_percent"] = cfg.canary_percent
        try:
            _wait(f"{cfg.url}/stage", self.procs.get("nginx"), expect=expect)
        except RuntimeError:
            if self.alive("nginx"):
                raise
            raise ProcessDied("nginx", f"the nginx process died while switching to {expect['mode']}") from None

    # -- supervision -----------------------------------------------------
    def alive(self, name: str) -> bool:
        """Is this process of the stack still running (not exited, not a zombie)?"""
        proc = self.procs.get(name)
        if proc is not None:
            return proc.poll() is None
        pid = self._saved_pids().get(name)
        return pid is not None and not _gone(pid)

    def healthy(self, variant: str) -> bool:
        """A service that is alive and answers /health now."""
        if not self.alive(variant):
            return False
        try:
            return httpx.get(f"{self.cfg.service_url(variant)}/health", timeout=2.0).status_code == 200
        except httpx.TransportError:
            return False

    def served_sha(self, variant: str) -> str | None:
        """The model sha256 a service reports, or None when it does not answer."""
        try:
            return httpx.get(f"{self.cfg.service_url(variant)}/health", timeout=2.0).json()["model_sha256"]
        except (httpx.TransportError, ValueError, KeyError):
            return None

    def restart_nginx(self, mode: str, percent: int | None = None) -> None:
        """Start nginx afresh in `mode`: after its master died, its orphaned workers are stopped first."""
        _stop_group(self._pid("nginx"), signal.SIGKILL, self.procs.pop("nginx", None))
        percent = self.cfg.canary_percent if percent is None else percent
        self.cfg = self.cfg.model_copy(update={"mode": mode, "canary_percent": percent})
        nginx.render(template_values(self.cfg), self.cfg.stack_dir / "conf.d")
        nginx.write_stage(stage_dir(self.cfg), self.cfg.mode, self.cfg.canary_percent)
        conf = self.cfg.stack_dir / "nginx.conf"
        nginx.check(conf)
        self.procs["nginx"] = nginx.start(conf, self.cfg.stack_dir / "nginx.log")
        self._save()
        _wait(f"{self.cfg.url}/stage", self.procs["nginx"], expect={"mode": effective_mode(self.cfg)})

    def restart_service(self, variant: str, model: Path) -> None:
        """Replace one service's process with one serving `model` (promote: candidate becomes stable)."""
        old = self.procs.pop(variant, None)
        pid = old.pid if old else self._saved_pids().get(variant)
        if pid is not None:
            _stop_group(pid, signal.SIGTERM, old)
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
        """Stop every process of the stack (nginx gracefully first, each with its whole group), then forget it."""
        pids = {**self._saved_pids(), **{name: proc.pid for name, proc in self.procs.items()}}
        for name in ("nginx", "candidate", "stable", "prometheus"):
            if name in pids:
                _stop_group(pids[name], signal.SIGQUIT if name == "nginx" else signal.SIGTERM, self.procs.get(name))
        self.procs.clear()
        (self.cfg.stack_dir / "state.json").unlink(missing_ok=True)

    def __enter__(self) -> Stack:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- state -----------------------------------------------------------
    def _save(self) -> None:
        state = {
            "pids": {**self._saved_pids(), **{name: proc.pid for name, proc in self.procs.items()}},
            "config": self.cfg.model_dump(mode="json"),
        }
        atomic.write_text(self.cfg.stack_dir / "state.json", json.dumps(state, indent=2))

    def _saved_pids(self) -> dict[str, int]:
        path = self.cfg.stack_dir / "state.json"
        return json.loads(path.read_text())["pids"] if path.exists() else {}

    def _pid(self, name: str) -> int:
        return self.procs[name].pid if name in self.procs else self._saved_pids()[name]

    def status(self) -> str:
        """What serves now, one line per process: alive, pid, and the model it reports."""
        lines = []
        pids = self._saved_pids()
        for name in ("nginx", "stable", "candidate"):
            state = "up" if self.alive(name) else "DOWN"
            detail = ""
            if name == "nginx":
                try:
                    detail = httpx.get(f"{self.cfg.url}/stage", timeout=2).text
                except httpx.TransportError as exc:
                    detail = f"not answering ({type(exc).__name__})"
            else:
                sha = self.served_sha(name)
                model = self.cfg.stable_model if name == "stable" else self.cfg.candidate_model
                detail = f"{model} (serving {sha[:12] if sha else 'nothing'})"
            lines.append(f"{name:<10} {state:<5} pid {pids.get(name, '-')!s:<8} {detail}")
        return "\n".join(lines)

    @classmethod
    def attach(cls, stack_dir: Path) -> Stack:
        """The stack a previous `up` left running (for `set`, `status`, `down`)."""
        path = stack_dir / "state.json"
        if not path.exists():
            raise RuntimeError(f"no stack running from {stack_dir}")
        return cls(StackSettings(**json.loads(path.read_text())["config"]))


class ProcessDied(RuntimeError):
    """A process of the stack is gone; `name` says which."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def _stop_group(pid: int, sig: signal.Signals, proc: subprocess.Popen | None = None, timeout: float = 10.0) -> None:
    """Signal the process, wait for it, then SIGKILL its whole group (each was started in a session of its own).

    The group catches what outlives the leader: nginx workers whose master was
    killed keep serving the old stage and holding the port until stopped.
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (proc.poll() is not None) if proc is not None else _gone(pid):
            break
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    if proc is not None:
        proc.wait()
    else:
        _gone(pid)


def _gone(pid: int) -> bool:
    """True once pid has exited; reaps it when it is our own (detached) child."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:  # not our child: gone when signal 0 fails or only a zombie is left
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except (OSError, IndexError):
            return True


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
            print(f"  prometheus {cfg.prometheus_url}  (scrapes both every 1 s)")
            print(f"  logs      {cfg.stack_dir}/   stop with: make stack-down")
        elif args.command == "set":
            stack = Stack.attach(cfg.stack_dir)
            if args.mode is None and args.percent is not None and stack.cfg.mode != "canary":
                raise ValueError(
                    f"CANARY_PERCENT={args.percent} applies to canary only and the stack is in {stack.cfg.mode}: "
                    f"run `make stack-set MODE=canary CANARY_PERCENT={args.percent}`"
                )
            stack.set_stage(args.mode or stack.cfg.mode, args.percent)
            mode = effective_mode(stack.cfg)
            print(f"nginx now in {mode}" + (f" ({stack.cfg.canary_percent} %)" if mode == "canary" else ""))
        elif args.command == "status":
            stack = Stack.attach(cfg.stack_dir)
            print(stack.status())
            if (cfg.stack_dir / "promote.json").exists():
                print(
                    "an interrupted promotion is recorded: `python -m deploy.rollout --recover` finishes or undoes it"
                )
        else:
            try:
                stack = Stack.attach(cfg.stack_dir)
            except RuntimeError:
                print("no stack running")
                return 0
            from deploy import promote  # the promotion sits downstream of the stack it drives

            promote.recover(stack)  # a promotion killed halfway: finish or undo it, so the baseline is right
            stack.down()
            print("stack down")
    except (ValueError, RuntimeError, TimeoutError, FileNotFoundError, httpx.TransportError) as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
