"""The switch tests' bookkeeping: a request in flight when a switch begins proves nothing about either stage.

tools/keepalive.py counts a request as "settled" (routed by the new stage
only) when it ran wholly after a switch command returned and before the next
one began. It once read a flag before sending instead, so a request a busy
machine held back between that read and its send, or one still in flight when
the next switch began, counted as settled in the window it started in, and
meeting the next stage it failed the local-stack test (1 of 1,508 in CI).

A real HTTP/1.1 server on 127.0.0.1 answers every request a few milliseconds
after it arrives, with the stage current *when it answers*, and each switch
happens while it holds a request: that request meets the new stage.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from src.processes import poll_until
from src.schema import EXAMPLE_CUSTOMER
from tools.keepalive import KeepAliveLoad, label, through_switches

ANSWER_AFTER_S = 0.005  # every answer waits this long: each connection is almost always mid-request
SWITCHES = (("canary", 100), ("stable", 0))  # all traffic to the candidate, then all back


@contextmanager
def staged_server() -> Iterator[tuple[str, dict[str, Any]]]:
    """A keep-alive server that answers as `stage["variant"]` at the moment it answers (`stage["held"]`: how many
    requests it holds now)."""
    stage: dict[str, Any] = {"variant": "stable", "held": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # the head and the body go out at once, not 40 ms apart

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                stage["held"] += 1
            time.sleep(ANSWER_AFTER_S)
            with lock:
                stage["held"] -= 1
            payload = json.dumps({"churn_probability": 0.5}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-Model-Variant", stage["variant"])
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", stage
    finally:
        server.shutdown()
        server.server_close()


def test_a_request_in_flight_when_a_switch_begins_is_not_counted_as_settled() -> None:
    with staged_server() as (url, stage):

        def switch(mode: str, percent: int) -> None:
            """Switch while the server holds a request: that one began before and ends after the switch."""
            poll_until(lambda: stage["held"] > 0, timeout=10, what="a request held by the stand-in", interval=0.001)
            stage["variant"] = "candidate" if mode == "canary" else "stable"

        with KeepAliveLoad(url, [EXAMPLE_CUSTOMER], connections=1) as load:
            tally = through_switches(load, switch, SWITCHES, dwell_requests=20, warm_up=10)
    answers = {label(mode, p): "candidate" if mode == "canary" else "stable" for mode, p in SWITCHES}
    windows = {"no switch": "stable"} | answers
    for window, variant in windows.items():
        count = tally.total(window)
        assert count.lost == 0, f"the stand-in server lost requests in {window!r}: {count.errors}"
        wrong = count.settled_candidate if variant == "stable" else count.settled - count.settled_candidate
        assert wrong == 0, (
            f"{wrong} of {count.settled} requests counted as settled in {window!r} met the other stage: "
            "a request still in flight when a switch began was taken as routed by the window it started in"
        )
    overlapped = sum(tally.total(window).sent - tally.total(window).settled for window in windows)
    assert overlapped >= len(SWITCHES), f"only {overlapped} requests overlapped the {len(SWITCHES)} switches"
