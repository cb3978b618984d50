"""Render the nginx config, switch its stage, and drive a local nginx process.

The templates in nginx/ are the ones the compose nginx container renders
(nginx/render-stage.sh); this module renders them the way envsubst does (only
the given ${NAMES} are replaced; nginx's own $variables stay), and wraps them
in a main config that keeps every path inside the stack folder, so nginx runs
unprivileged-friendly on 127.0.0.1 with no system paths. The config is the
same for every stage: the stage is files nginx reads per request
(write_stage), so switching never reloads nginx nor closes a connection.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

from deploy.rules.stages import stage, stage_report
from src import atomic
from src.config import ROOT

TEMPLATES = ROOT / "nginx"
# Rendered once, at start; a stage switch only rewrites the files write_stage() owns.
TEMPLATE_FILES = ("00-common", "stage")
_PLACEHOLDER = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


def envsubst(text: str, values: dict[str, str]) -> str:
    """Replace ${NAME} for the names given, leave every other $ alone (as envsubst with a list does)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def template_variables() -> set[str]:
    names: set[str] = set()
    for name in TEMPLATE_FILES:
        names |= set(_PLACEHOLDER.findall((TEMPLATES / f"{name}.conf.template").read_text()))
    return names


def render(values: dict[str, str], conf_dir: Path) -> None:
    """Write conf_dir/00-common.conf and conf_dir/stage.conf, atomically: the same for every stage."""
    missing = template_variables() - values.keys()
    if missing:
        raise ValueError(f"nginx template variables without a value: {sorted(missing)}")
    conf_dir.mkdir(parents=True, exist_ok=True)
    for name in TEMPLATE_FILES:
        atomic.write_text(
            conf_dir / f"{name}.conf", envsubst((TEMPLATES / f"{name}.conf.template").read_text(), values)
        )


def write_stage(stage_dir: Path, mode: str, percent: int | str) -> None:
    """Switch the stage nginx serves without a reload: the files nginx/stage.conf.template reads per request.

    Every switch takes effect in one atomic file operation: a new canary share
    is written into the idle bucket set first, then one touch or unlink makes
    it live (`canary-b` wins over `canary-a`, and both over `shadow`, while two
    exist), so no request is routed by a half-written share. No connection is
    closed: that is the point (a reload closed idle keep-alive connections a
    client was sending on). nginx/render-stage.sh does the same steps inside
    the compose container.
    """
    target, number = stage(mode, percent)
    stage_dir.mkdir(parents=True, exist_ok=True)
    stage_dir.chmod(0o755)  # nginx's workers may run as another user: they stat these files
    live = _live_buckets(stage_dir)
    if target == "canary":
        idle = "b" if live == "a" else "a"
        _set_buckets(stage_dir, idle, number)
        if idle == "b":
            _touch(stage_dir / "canary-b")  # the switch (b wins over a)
            (stage_dir / "canary-a").unlink(missing_ok=True)
        else:
            _touch(stage_dir / "canary-a")  # the switch when no canary was live
            (stage_dir / "canary-b").unlink(missing_ok=True)  # ... or when b was: a is live from here
        (stage_dir / "shadow").unlink(missing_ok=True)
        _set_buckets(stage_dir, "a" if idle == "b" else "b", 0)  # the set no longer live
    else:
        if target == "shadow":
            _touch(stage_dir / "shadow")
        for name in ("canary-a", "canary-b", "shadow") if target == "stable" else ("canary-a", "canary-b"):
            (stage_dir / name).unlink(missing_ok=True)
        _set_buckets(stage_dir, "a", 0)
        _set_buckets(stage_dir, "b", 0)
    atomic.write_text(stage_dir / "stage.json", stage_report(target, number) + "\n")
    (stage_dir / "stage.json").chmod(0o644)


def _live_buckets(stage_dir: Path) -> str | None:
    """Which bucket set nginx routes by now: b wins over a; None outside canary."""
    for name in ("b", "a"):
        if (stage_dir / f"canary-{name}").exists():
            return name
    return None


def _set_buckets(stage_dir: Path, name: str, number: int) -> None:
    """Bucket set `name` holds exactly buckets 00..number-1."""
    for bucket in range(100):
        path = stage_dir / f"{name}-bucket-{bucket:02d}"
        if bucket < number:
            _touch(path)
        else:
            path.unlink(missing_ok=True)


def read_stage(stage_dir: Path) -> dict[str, object]:
    """The stage the files in stage_dir describe, as nginx routes by them ({"mode": ..., "candidate_percent": N})."""
    live = _live_buckets(stage_dir)
    if live:
        share = sum((stage_dir / f"{live}-bucket-{b:02d}").exists() for b in range(100))
        return {"mode": "canary", "candidate_percent": share}
    return {"mode": "shadow" if (stage_dir / "shadow").exists() else "stable"}


def _touch(path: Path) -> None:
    if not path.exists():
        path.touch(mode=0o644)


def main_config(stack_dir: Path) -> Path:
    """The top-level nginx.conf for the local stack: every path under stack_dir."""
    temp = stack_dir / "nginx-temp"
    temp.mkdir(parents=True, exist_ok=True)
    # Started as root, nginx would run its workers as nobody, who cannot enter a private stack folder
    # to read the stage files (or write a temp file): they run as the user who started the stack.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    text = f"""# generated by deploy/drivers/nginx.py for the local stack
{user}worker_processes 1;
# 1,100 idle (slow-loris) sockets must leave room for users: 4,096 connections, and the
# file descriptors they need (two per proxied request).
worker_rlimit_nofile 16384;
pid {stack_dir}/nginx.pid;
error_log {stack_dir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    proxy_max_temp_file_size 0;
    default_type application/octet-stream;
    include {stack_dir}/conf.d/*.conf;
}}
"""
    path = stack_dir / "nginx.conf"
    path.write_text(text)
    return path


def binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        raise FileNotFoundError("nginx not found: install it (Debian/Ubuntu: apt-get install -y nginx)")
    return found


def check(config: Path) -> None:
    """`nginx -t` on a rendered config; raises with nginx's own message."""
    result = subprocess.run([binary(), "-t", "-q", "-c", str(config)], capture_output=True, text=True)
    if result.returncode != 0:
        raise ValueError(f"nginx -t failed for {config}: {result.stderr.strip()}")


def start(config: Path, log: Path) -> subprocess.Popen:
    """Run nginx in the foreground of a new session; the Popen pid is the master and its process group.

    Its workers share that group, so stopping the group stops an orphaned
    worker too (one that outlived a killed master and still holds the port).
    """
    with open(log, "ab") as out:
        return subprocess.Popen(
            [binary(), "-c", str(config), "-g", "daemon off;"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
