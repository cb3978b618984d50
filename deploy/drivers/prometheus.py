"""Prometheus beside the local stack: Debian's binary, 127.0.0.1, storage in the stack folder.

The config is prometheus/prometheus.yml (the file docker compose mounts), with
each compose target (`stable:8000`) replaced by the local address, so both
topologies scrape the same series the same way. Canary analysis on a cluster
reads exactly these series (deploy/rules/promql.py); here they can be queried at
http://127.0.0.1:PROMETHEUS_PORT while a rollout runs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

import httpx
import yaml

from src import atomic, loopback
from src.config import ROOT

CONFIG = ROOT / "prometheus" / "prometheus.yml"


def binary() -> str:
    found = shutil.which("prometheus") or shutil.which("prometheus", path="/usr/bin:/usr/local/bin")
    if not found:
        raise FileNotFoundError("prometheus is not installed: `make system-deps` installs Debian's package")
    return found


def render(targets: dict[str, str], out: Path) -> Path:
    """prometheus.yml with each compose target ("stable:8000") replaced by targets["stable"]."""
    config = yaml.safe_load(CONFIG.read_text())
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            static["targets"] = [targets[t.split(":")[0]] for t in static["targets"]]
    path = out / "prometheus.yml"
    atomic.write_text(path, yaml.safe_dump(config, sort_keys=False))
    return path


def start(config: Path, address: str, storage: Path, log: Path) -> subprocess.Popen:
    cmd = [
        binary(),
        f"--config.file={config}",
        f"--web.listen-address={address}",
        f"--storage.tsdb.path={storage}",
        "--storage.tsdb.retention.time=1d",
    ]
    with open(log, "ab") as fh:
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def wait_scraping(url: str, targets: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Until every target has been scraped once and is up.

    A series Prometheus first sees at 140 reads as no requests to increase();
    traffic must wait for the first scrape of the services' zero counters.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited with {proc.returncode}; see prometheus.log in the stack folder")
        try:
            active = loopback.get(f"{url}/api/v1/targets", timeout=1.0).json()["data"]["activeTargets"]
            if len(active) == targets and all(t["health"] == "up" for t in active):
                return
        except (httpx.TransportError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"prometheus at {url} did not scrape {targets} targets in {timeout} s")


def wait_fresh(url: str, after: float, timeout: float = 15.0) -> None:
    """Until every target's last scrape started after the wall-clock time `after` (a window's end)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            active = loopback.get(f"{url}/api/v1/targets", timeout=2.0).json()["data"]["activeTargets"]
            if active and all(_epoch(t["lastScrape"]) > after for t in active):
                return
        except (httpx.TransportError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"prometheus at {url} scraped nothing new in {timeout} s")


def _epoch(stamp: str) -> float:
    """Prometheus's RFC 3339 time (nanoseconds, "Z") as seconds since the epoch; Python reads 6 digits."""
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", stamp)).timestamp()


def query(url: str, expr: str, at: float) -> float | None:
    """One instant query's single value, or None when it returns no sample (no evidence)."""
    response = loopback.get(f"{url}/api/v1/query", params={"query": expr, "time": f"{at:.3f}"}, timeout=5.0)
    response.raise_for_status()
    result = response.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None
