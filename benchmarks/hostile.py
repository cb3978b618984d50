"""Hostile requests against a real uvicorn process: how long /health stalls, how much the worker grows.

The service's promise is that one request never blocks the worker for more
than 100 ms nor grows its RSS by more than 50 MB. Each case starts a fresh
server with the image's own command (the Dockerfile's CMD, host and port
swapped), sends one hostile request (or four hostile connections) while a
client polls /health every 10 ms, and prints the answer, the slowest /health,
the worker's CPU time (what the request cost it, whatever the machine's load)
and the growth of its peak RSS (VmHWM), for the first attack on a fresh worker
and the worst of the next few (a fresh heap pays page faults once).

    python -m benchmarks.hostile                      # this checkout
    python -m benchmarks.hostile --checkout ../main   # another checkout, e.g. to compare

Figures only; nothing here passes or fails. A gated model is built once in a
temp folder (a 4,000-customer snapshot through the real gate) unless
--model names one.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from src import exits, loopback, schema
from src.config import ROOT
from src.make_dataset import generate, write
from src.processes import cpu_seconds, free_port, running
from tools.gated import gated
from tools.image import image_command, local_command

HEADER_CONNECTIONS, HEADER_BYTES, CHUNK = 4, 32 * 1024 * 1024, 64 * 1024


def _rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _post(body: bytes) -> Callable[[str], str]:
    def send(url: str) -> str:
        headers = {"Content-Type": "application/json"}
        try:
            response = loopback.post(f"{url}/predict/batch", content=body, headers=headers, timeout=600)
        except httpx.TransportError as exc:
            return type(exc).__name__
        return str(response.status_code)

    return send


def _endless_headers(url: str) -> str:
    """HEADER_CONNECTIONS connections, each sending up to HEADER_BYTES of one unfinished header."""
    port = int(url.rsplit(":", 1)[1])
    sockets = [socket.create_connection(("127.0.0.1", port), timeout=120) for _ in range(HEADER_CONNECTIONS)]
    sent, open_ = [0] * len(sockets), [True] * len(sockets)
    chunk = b"a" * CHUNK
    try:
        for sock in sockets:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: ")
        while any(open_) and min(n for n, o in zip(sent, open_, strict=True) if o) < HEADER_BYTES:
            for i, sock in enumerate(sockets):
                if open_[i] and sent[i] < HEADER_BYTES:
                    try:
                        sock.sendall(chunk)
                        sent[i] += CHUNK
                    except OSError:
                        open_[i] = False
    finally:
        for sock in sockets:
            sock.close()
    cut = sum(not o for o in open_)
    return f"{cut}/{len(sockets)} cut after {max(sent) >> 10} KiB"


def _idle(url: str) -> str:
    time.sleep(0.5)
    return "-"


def cases() -> list[tuple[str, Callable[[str], str]]]:
    empty = b"{}"
    return [
        ("no attack (the /health noise floor)", _idle),
        ("1 MiB batch of {} rows (349,518)", _post(b'{"customers":[' + b",".join([empty] * 349_518) + b"]}")),
        ("59 KiB batch of {} rows (20,000)", _post(b'{"customers":[' + b",".join([empty] * 20_000) + b"]}")),
        ("JSON nested 490 levels", _post(b'{"customers":' + b"[" * 490 + b"]" * 490 + b"}")),
        ("JSON nested 100k levels", _post(b'{"customers":' + b"[" * 100_000 + b"]" * 100_000 + b"}")),
        ("1 MiB object of 90k unknown keys", _post(b'{"customers":[{' + _keys(90_000) + b"}]}")),
        (f"{HEADER_CONNECTIONS} x 32 MiB unfinished headers", _endless_headers),
    ]


def _keys(n: int) -> bytes:
    return ",".join(f'"k{i}":0' for i in range(n)).encode()


@contextmanager
def serving(checkout: Path, argv: list[str], model: Path, url: str) -> Iterator[subprocess.Popen]:
    """The checkout's service (its own app/ and src/, run from its folder) until the block ends."""
    with running(argv, f"{url}/health", {"MODEL_PATH": str(model)}, cwd=checkout) as proc:
        yield proc


def _under_attack(client: httpx.Client, url: str, pid: int, attack: Callable[[str], str]) -> tuple[str, float, float]:
    """(answer, slowest /health in ms, worker CPU ms) for one attack, /health polled every 10 ms meanwhile."""
    cpu_before = cpu_seconds(pid)  # what a request costs the worker, whatever the load
    outcome: list[str] = []
    worker = threading.Thread(target=lambda: outcome.append(attack(url)))
    worker.start()
    slowest = 0.0
    while worker.is_alive():
        t0 = time.perf_counter()
        client.get(f"{url}/health")
        slowest = max(slowest, time.perf_counter() - t0)
        time.sleep(0.01)
    worker.join()
    return outcome[0], slowest * 1000, (cpu_seconds(pid) - cpu_before) * 1000


def measure(checkout: Path, model: Path, name: str, attack: Callable[[str], str], repeats: int) -> None:
    """The first attack on a fresh worker, then the worst of `repeats` more (peak RSS over all of them)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = local_command(image_command(checkout), port)
    with serving(checkout, argv, model, url) as proc, loopback.client(timeout=600) as client:
        for body in (b'{"customers":[' + json.dumps(schema.EXAMPLE_CUSTOMER).encode() + b"]}", b'{"customers":[]}'):
            client.post(f"{url}/predict/batch", content=body, headers={"Content-Type": "application/json"})
        for _ in range(20):
            client.get(f"{url}/health")  # warm: first-request costs are not the attack's
        rss_before = _rss_kb(proc.pid, "VmRSS")
        Path(f"/proc/{proc.pid}/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        started = time.perf_counter()
        answer, first_stall, first_cpu = _under_attack(client, url, proc.pid, attack)
        first_wall = time.perf_counter() - started
        again = [_under_attack(client, url, proc.pid, attack) for _ in range(repeats)]
        grown = (_rss_kb(proc.pid, "VmHWM") - rss_before) / 1024
    stall = f"{first_stall:.0f} / {max(a[1] for a in again):.0f}" if again else f"{first_stall:.0f}"
    cpu = f"{first_cpu:.0f} / {max(a[2] for a in again):.0f}" if again else f"{first_cpu:.0f}"
    print(f"{name:<38} {answer:<27} {stall:>11} {cpu:>11} {grown:>9.1f} {first_wall:>8.2f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the checkout whose service is measured")
    parser.add_argument("--model", type=Path, help="a gated model file (default: gate a small one in a temp folder)")
    parser.add_argument("--repeats", type=int, default=3, help="attacks after the first, on the same worker")
    parser.add_argument("--case", default="", help="only the cases whose name contains this")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            folder = Path(tmp)
            write(generate(seed=7, n=4000), folder / "snapshot.csv")
            model = gated(folder / "snapshot.csv", folder)
        if not model.is_file():
            print(f"benchmarks.hostile: no model file at {model}", file=sys.stderr)
            return exits.REFUSED
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"checkout {args.checkout.resolve()}  |  {os.cpu_count()} CPUs, load {load}")
        print(f"{'case':<38} {'answer':<27} {'/health max':>11} {'worker CPU':>11} {'peak RSS':>9} {'wall':>8}")
        print(f"{'':<38} {'':<27} {'ms 1st/next':>11} {'ms 1st/next':>11} {'+MB':>9} {'s (1st)':>8}")
        for name, attack in cases():
            if args.case and args.case not in name:
                continue
            measure(args.checkout, model, name, attack, args.repeats)
    return exits.OK


if __name__ == "__main__":
    raise SystemExit(main())
