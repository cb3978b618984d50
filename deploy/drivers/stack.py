"""The local stack's processes: stable + candidate services behind nginx (and Prometheus), on 127.0.0.1.

The same topology docker compose describes, as plain processes: two uvicorn
services (each with its own artifact and MODEL_VARIANT) and Debian's nginx
rendering the same templates. `python -m deploy.stack` (make stack-up/-down)
is its command; the rollout controller and the tests use `Stack` directly.
Every process starts in a session of its own, so a stop takes its whole group.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from deploy.drivers import nginx, prometheus
from deploy.rules import stages
from deploy.settings import HOST, StackSettings
from src import artifacts, atomic, launcher, loopback, processes
from src.config import ROOT

_LEFT_RUNNING: list[subprocess.Popen] = []


def check(cfg: StackSettings) -> None:
    """Refuse a stage or an artifact the stack cannot serve, before any process starts."""
    stages.stage(cfg.mode, cfg.canary_percent)
    for name, path in (("STABLE_MODEL", cfg.stable_model), ("CANDIDATE_MODEL", cfg.candidate_model)):
        if not path.is_file():
            raise ValueError(f"{name}={path}: no such artifact (run `make run` to produce one)")
        if not path.with_name(artifacts.METRICS_FILE).is_file():
            raise ValueError(f"{name}={path}: no metrics.json beside it")


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
    """The files nginx reads per request to choose the stage (deploy/drivers/nginx.py write_stage)."""
    return cfg.stack_dir.resolve() / "stage"


def effective_mode(cfg: StackSettings) -> str:
    return stages.stage(cfg.mode, cfg.canary_percent)[0]


def _ready(url: str, proc: subprocess.Popen | None, expect: dict | None = None) -> None:
    """Until `url` answers (with `expect`); a process that exits first is reported with where its log is."""
    try:
        processes.wait_healthy(url, proc, expect=expect)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}; see the logs in the stack folder") from None


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
        check(cfg)
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
                _ready(f"{cfg.service_url(variant)}/health", self.procs[variant])
            if cfg.prometheus:
                prometheus.wait_scraping(cfg.prometheus_url, 2, self.procs["prometheus"])
            _ready(f"{cfg.url}/stage", self.procs["nginx"], expect={"mode": effective_mode(cfg)})
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
            # through the session's fork server when one is named (src/launcher.py), else a plain Popen
            return launcher.launch(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

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
        check(cfg)
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
            _ready(f"{cfg.url}/stage", self.procs.get("nginx"), expect=expect)
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
        return pid is not None and not processes.gone(pid)

    def healthy(self, variant: str) -> bool:
        """A service that is alive and answers /health now."""
        if not self.alive(variant):
            return False
        try:
            return loopback.get(f"{self.cfg.service_url(variant)}/health", timeout=2.0).status_code == 200
        except httpx.TransportError:
            return False

    def served_sha(self, variant: str) -> str | None:
        """The model sha256 a service reports, or None when it does not answer."""
        try:
            return loopback.get(f"{self.cfg.service_url(variant)}/health", timeout=2.0).json()["model_sha256"]
        except (httpx.TransportError, ValueError, KeyError):
            return None

    def restart_nginx(self, mode: str, percent: int | None = None) -> None:
        """Start nginx afresh in `mode`: after its master died, its orphaned workers are stopped first."""
        processes.stop_group(self._pid("nginx"), signal.SIGKILL, self.procs.pop("nginx", None))
        percent = self.cfg.canary_percent if percent is None else percent
        self.cfg = self.cfg.model_copy(update={"mode": mode, "canary_percent": percent})
        nginx.render(template_values(self.cfg), self.cfg.stack_dir / "conf.d")
        nginx.write_stage(stage_dir(self.cfg), self.cfg.mode, self.cfg.canary_percent)
        conf = self.cfg.stack_dir / "nginx.conf"
        nginx.check(conf)
        self.procs["nginx"] = nginx.start(conf, self.cfg.stack_dir / "nginx.log")
        self._save()
        _ready(f"{self.cfg.url}/stage", self.procs["nginx"], expect={"mode": effective_mode(self.cfg)})

    def restart_service(self, variant: str, model: Path) -> None:
        """Replace one service's process with one serving `model` (promote: candidate becomes stable)."""
        old = self.procs.pop(variant, None)
        pid = old.pid if old else self._saved_pids().get(variant)
        if pid is not None:
            processes.stop_group(pid, signal.SIGTERM, old)
        key = "stable_model" if variant == "stable" else "candidate_model"
        self.cfg = self.cfg.model_copy(update={key: model})
        self.procs[variant] = self._service(variant)
        self._save()
        _ready(f"{self.cfg.service_url(variant)}/health", self.procs[variant])

    def detach(self) -> None:
        """Leave the processes running when this object goes away: `make stack-down` stops them later."""
        _LEFT_RUNNING.extend(self.procs.values())  # held, so no "still running" warning on collection
        self.procs.clear()

    def down(self) -> None:
        """Stop every process of the stack (nginx gracefully first, each with its whole group), then forget it."""
        pids = {**self._saved_pids(), **{name: proc.pid for name, proc in self.procs.items()}}
        for name in ("nginx", "candidate", "stable", "prometheus"):
            if name in pids:
                sig = signal.SIGQUIT if name == "nginx" else signal.SIGTERM
                processes.stop_group(pids[name], sig, self.procs.get(name))
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
                    detail = loopback.get(f"{self.cfg.url}/stage", timeout=2).text
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
