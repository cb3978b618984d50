"""Keep-alive traffic through stage switches, counted per switch and per client kind.

Load balancers, SDKs and the rollout's own replay clients keep connections
alive, and a stage switch that closes a connection a client is sending on
loses that request. This drives several keep-alive connections (`/predict`
and `/predict/batch`) back to back while a switch function runs, and tallies
every request twice: raw (the first attempt, as a client without retries sees
it) and as the project's own client sees it (deploy.traffic.post: once more
when the connection closed before any response). The local-stack and compose
switch tests and `python -m benchmarks.switches` share it.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deploy.drivers.traffic import Connection, post
from src.processes import poll_until

KINDS = ("predict", "batch")
BATCH_SIZE = 10  # customers per /predict/batch request: a real batch, still thousands of requests per switch
# The four switches of the walkthrough, from a stack that starts in `stable`.
SWITCHES = (("shadow", 5), ("canary", 25), ("canary", 50), ("stable", 0))


@dataclass
class Count:
    sent: int = 0
    raw_lost: int = 0  # the first attempt got no 200: what a client without a retry loses
    lost: int = 0  # no 200 even after the one retry: what the project's own client loses
    candidate: int = 0  # answered by the candidate (X-Model-Variant): the switch really switched
    settled: int = 0  # sent after the switch command returned and answered before another began: new stage only
    settled_candidate: int = 0  # of those, answered by the candidate
    errors: list[str] = field(default_factory=list)

    def add(self, raw_ok: bool, ok: bool, error: str | None, variant: str | None = None, settled: bool = True) -> None:
        self.sent += 1
        self.raw_lost += not raw_ok
        self.lost += not ok
        self.candidate += variant == "candidate"
        self.settled += settled and ok
        self.settled_candidate += settled and variant == "candidate"
        if error and len(self.errors) < 5:
            self.errors.append(error)


@dataclass
class Tally:
    """Requests per (switch label, client kind); a request belongs to the switch window it started in."""

    counts: dict[tuple[str, str], Count] = field(default_factory=dict)

    def count(self, label: str, kind: str) -> Count:
        return self.counts.setdefault((label, kind), Count())

    def total(self, label: str | None = None) -> Count:
        out = Count()
        for (lab, _), c in self.counts.items():
            if label is None or lab == label:
                out.sent += c.sent
                out.raw_lost += c.raw_lost
                out.lost += c.lost
                out.candidate += c.candidate
                out.settled += c.settled
                out.settled_candidate += c.settled_candidate
                out.errors += c.errors[: max(0, 5 - len(out.errors))]
        return out

    def labels(self) -> list[str]:
        return list(dict.fromkeys(label for label, _ in self.counts))

    def table(self) -> str:
        """One line per switch and kind: sent, raw lost, lost as the project's client sees it."""
        lines = [f"    {'switch to':<12} {'client':<8} {'requests':>9} {'raw lost':>9} {'lost (retry once)':>18}"]
        lines[0] += f" {'candidate':>10}"
        for label in self.labels():
            for kind in KINDS:
                c = self.counts.get((label, kind))
                if c:
                    row = f"{label:<12} {kind:<8} {c.sent:>9} {c.raw_lost:>9} {c.lost:>18} {c.candidate:>10}"
                    lines.append(f"    {row}")
        t = self.total()
        lines.append(f"    {'all':<12} {'both':<8} {t.sent:>9} {t.raw_lost:>9} {t.lost:>18} {t.candidate:>10}")
        return "\n".join(lines)


def label(mode: str, percent: int) -> str:
    return f"canary {percent}" if mode == "canary" else mode


class KeepAliveLoad:
    """`connections` keep-alive clients per kind, back to back, until stopped; each request tallied twice."""

    def __init__(self, url: str, bodies: list[dict[str, Any]], connections: int = 2) -> None:
        self.url = url
        self.bodies = bodies
        self.connections = connections
        self.tally = Tally()
        self.window = "warm-up"
        # Bumped when a switch starts and when it returns: odd while one runs. A request is
        # settled only when it started and ended in the same even epoch, i.e. no switch ran
        # while it was under way. Reading a flag before sending was not enough: a thread
        # held back between that read and its send (GIL, a busy CPU) sent into the next switch.
        self.epoch = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def __enter__(self) -> KeepAliveLoad:
        for kind, n in itertools.product(KINDS, range(self.connections)):
            thread = threading.Thread(target=self._drive, args=(kind, n), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def wait_sent(self, count: int, timeout: float = 60.0) -> None:
        """Block until `count` requests have been sent in the current window, or `timeout` passed.

        A load too slow to reach `count` is not an error here: the window's own
        `sent` says how much load there was, and the caller judges it.
        """
        with contextlib.suppress(TimeoutError):
            poll_until(lambda: self.tally.total(self.window).sent >= count, timeout=timeout, what="keep-alive load")

    def _drive(self, kind: str, n: int) -> None:
        offset = n * 997 % len(self.bodies)
        bodies = itertools.cycle(self.bodies[offset:] + self.bodies[:offset])
        path = "/predict" if kind == "predict" else "/predict/batch"
        with Connection(self.url, timeout=10.0) as client:  # one connection per client, kept alive
            while not self._stop.is_set():
                if kind == "predict":
                    body: Any = next(bodies)
                else:
                    body = {"customers": list(itertools.islice(bodies, BATCH_SIZE))}
                window, epoch = self.window, self.epoch
                sent = post(client, path, body)
                settled = epoch % 2 == 0 and self.epoch == epoch
                ok = sent.response is not None and sent.response.status_code == 200
                raw_ok = ok and not sent.retried
                error = sent.error or (None if ok else f"HTTP {sent.response.status_code}")  # type: ignore[union-attr]
                variant = sent.response.headers.get("x-model-variant") if sent.response is not None else None
                with self._lock:
                    self.tally.count(window, kind).add(raw_ok, ok, None if raw_ok else error, variant, settled)


def through_switches(
    load: KeepAliveLoad,
    switch: Callable[[str, int], None],
    switches: tuple[tuple[str, int], ...] = SWITCHES,
    dwell_requests: int = 2000,
    dwell_timeout: float = 60.0,
    warm_up: int = 200,
) -> Tally:
    """Run each switch under the load; after each, keep the load on until `dwell_requests` more were sent.

    A request belongs to the window of the switch that started before it, so
    every switch is measured over its own switch time plus a dwell of
    thousands of requests.
    """
    load.wait_sent(warm_up)
    load.window = "no switch"  # the control: the same load and dwell with nothing switched
    load.wait_sent(dwell_requests, dwell_timeout)
    for mode, percent in switches:
        load.epoch += 1
        load.window = label(mode, percent)
        switch(mode, percent)
        load.epoch += 1
        load.wait_sent(dwell_requests, dwell_timeout)
    load.window = "after"
    return load.tally
