"""The client contract: retry once when a kept-alive connection closed before any response, and only then.

A real HTTP/1.1 server on 127.0.0.1 (a socket server, so the fault is exact
and every run the same) answers a connection's first request with
keep-alive, then closes that connection under the next one without a byte of
response: the race a reload used to cause. deploy.drivers.traffic.post and the
client example in docs/api.md must both serve that request by one retry on a
fresh connection, must not retry an answer that started and broke, and must
not retry a timeout.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from deploy.drivers.traffic import Connection, post
from src import loopback
from src.config import ROOT
from src.schema import EXAMPLE_CUSTOMER

ANSWER = {"churn_probability": 0.25}


def _read_request(conn: socket.socket, whole: bool = True) -> bytes | None:
    """One request (head + Content-Length body; the head only unless `whole`), or None when the client closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1)) if b"ontent-" in head else 0
    while whole and len(body) < length:
        body += conn.recv(65536)
    return head


def _ok(conn: socket.socket) -> None:
    payload = json.dumps(ANSWER).encode()
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(payload))
    conn.sendall(payload)


# What the first connection sends its 2nd request before it closes: started answers that broke off.
BROKEN = {
    "partial": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{",  # the body cut short
    "headless": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n",  # the head cut short
    "garbled": b"HTTP/1.1 2",  # the status line cut short
}
TOO_LARGE = b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@contextmanager
def closing_server(behaviour: str) -> Iterator[tuple[str, list[int]]]:
    """A server whose first connection answers once, then on its 2nd request: `close`, `stall`, a BROKEN answer,
    or `early-413` (a whole 413 sent, and the connection closed, before it read the request's body).

    Every later connection answers every request. Yields the URL and the
    number of requests each connection received.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    per_connection: list[int] = []
    stop = threading.Event()

    def serve(conn: socket.socket, index: int) -> None:
        with conn:
            early = index == 0 and behaviour == "early-413"
            while not stop.is_set() and _read_request(conn, whole=not (early and per_connection[0] == 1)) is not None:
                per_connection[index] += 1
                if index == 0 and per_connection[index] == 2:
                    if behaviour in BROKEN:
                        conn.sendall(BROKEN[behaviour])
                    elif early:
                        conn.sendall(TOO_LARGE)
                    elif behaviour == "stall":
                        stop.wait(5)
                    return  # `close`: the kept-alive connection closes under the request, no byte sent
                _ok(conn)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            per_connection.append(0)
            threading.Thread(target=serve, args=(conn, len(per_connection) - 1), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", per_connection
    finally:
        stop.set()
        listener.close()


def test_a_keepalive_connection_closed_under_a_request_is_served_by_one_retry() -> None:
    with closing_server("close") as (url, per_connection), Connection(url, timeout=5) as client:
        first = post(client, "/predict", EXAMPLE_CUSTOMER)
        second = post(client, "/predict", EXAMPLE_CUSTOMER)
        raw = post(client, "/predict", EXAMPLE_CUSTOMER)
    assert first.response is not None
    assert not first.retried
    assert second.response is not None, f"the request was lost: {second.error}"
    assert second.response.json() == ANSWER
    assert second.retried, "served without a retry: the server did not close the connection under it"
    assert "RemoteDisconnected" in (second.error or ""), f"the retry was for another failure: {second.error}"
    assert raw.response is not None
    assert not raw.retried
    assert per_connection[:2] == [2, 2], f"the retry did not go on a fresh connection: {per_connection}"


def test_without_the_retry_the_same_close_loses_the_request() -> None:
    with closing_server("close") as (url, _), Connection(url, timeout=5) as client:
        post(client, "/predict", EXAMPLE_CUSTOMER, retry=False)
        lost = post(client, "/predict", EXAMPLE_CUSTOMER, retry=False)
    assert lost.response is None, "the raw figure must count a request the server never answered as lost"


@pytest.mark.parametrize("behaviour", list(BROKEN))
def test_an_answer_that_started_and_broke_is_not_retried(behaviour: str) -> None:
    with closing_server(behaviour) as (url, per_connection), Connection(url, timeout=5) as client:
        post(client, "/predict", EXAMPLE_CUSTOMER)
        broken = post(client, "/predict", EXAMPLE_CUSTOMER)
    assert broken.response is None, "a response cut short must count as lost, never as served"
    assert not broken.retried, "a started answer was sent again"
    assert len(per_connection) == 1, f"a started answer was sent again on a new connection: {per_connection}"


def test_an_answer_sent_before_the_body_was_read_is_an_answer_not_a_lost_request() -> None:
    """A 413 for a body over the limit comes, and the connection closes, while the client is still sending."""
    big = {"customers": [EXAMPLE_CUSTOMER] * 40_000}  # ~10 MB: more than the socket buffers hold, so the send breaks
    with closing_server("early-413") as (url, per_connection), Connection(url, timeout=5) as client:
        post(client, "/predict", EXAMPLE_CUSTOMER)
        refused = post(client, "/predict/batch", big)
        after = post(client, "/predict", EXAMPLE_CUSTOMER)
    assert refused.response is not None, f"the server's 413 was counted as no answer at all: {refused.error}"
    assert refused.response.status_code == 413
    assert not refused.retried, "an answered request was sent again"
    assert after.response is not None, f"the next request needs a new connection: {after.error}"
    assert after.response.status_code == 200
    assert per_connection == [2, 1], f"one refused request, then one on a new connection: {per_connection}"


def test_a_timeout_is_not_retried_the_service_may_still_be_scoring() -> None:
    with closing_server("stall") as (url, per_connection), Connection(url, timeout=0.5) as client:
        post(client, "/predict", EXAMPLE_CUSTOMER)
        timed_out = post(client, "/predict", EXAMPLE_CUSTOMER)
    assert timed_out.response is None
    assert "Timeout" in (timed_out.error or "")
    assert not timed_out.retried, "a timed-out request was sent again"
    assert len(per_connection) == 1, f"a timed-out request was sent again on a new connection: {per_connection}"


def _docs_client() -> dict[str, Any]:
    """The client example of docs/api.md, its functions only (the page's last lines call a live service)."""
    text = (ROOT / "docs" / "api.md").read_text()
    block = text.split("<!-- client-example -->", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    code = block.split("\nwith httpx.Client(", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/api.md", "exec"), namespace)
    return namespace


def test_the_docs_client_example_retries_the_same_way() -> None:
    predict = _docs_client()["predict"]
    with closing_server("close") as (url, per_connection), loopback.client(base_url=url, timeout=5) as client:
        assert predict(client, EXAMPLE_CUSTOMER) == ANSWER
        assert predict(client, EXAMPLE_CUSTOMER) == ANSWER, "the docs' client lost the request the server closed"
    assert per_connection[:2] == [2, 1], f"the docs' client did not retry on a fresh connection: {per_connection}"
