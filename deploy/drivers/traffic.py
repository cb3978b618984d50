"""Replay customers from a snapshot against the stack: bounded, loopback only.

Stands in for live users during shadow and canary: every request is a real
customer row sent as a real HTTP request through nginx, each client on one
kept-alive connection (`Connection`).
"""

from __future__ import annotations

import http.client
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from src import data, schema

MAX_REQUESTS = 100_000  # a replay always ends


@dataclass(frozen=True)
class Reply:
    status: int
    variant: str | None
    latency_ms: float
    request_id: str | None
    retried: bool = False  # the first attempt got no response at all; the retry's outcome is the status


@dataclass(frozen=True)
class Response:
    """A whole answer: its status, its headers (names lower-cased) and its body."""

    status_code: int
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass(frozen=True)
class Sent:
    """One request as a client sees it: its response (None: lost) and whether a retry was needed."""

    response: Response | None
    retried: bool
    error: str | None = None  # the transport error that lost (or, when retried, the one that cost) an attempt


class NoResponse(Exception):
    """The connection failed before any byte of a response arrived: the server never answered this request."""


class Connection:
    """One kept-alive HTTP/1.1 connection to a loopback service, opened again after a failure or a close.

    The replay is the load a rollout judges its services under, thousands of
    requests per window beside them on the same cores: the standard library's
    http.client costs a request ~0.2 ms of CPU here, httpx ~0.65 ms (its h11
    parser, URL model and cookie jar on every request; docs/ci.md).
    """

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"a replay connection speaks plain http to a host, not {url}")
        self._conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> Response:
        """POST and read the whole answer; NoResponse when not a byte of it came back, else the error as raised."""
        try:
            early = self._send(path, body, headers)
            answer = self._head(early)
            if answer.length is None and not answer.chunked:
                raise http.client.HTTPException("an answer without Content-Length or chunked framing (cut short?)")
            content = answer.read()
        except BaseException:
            self.close()
            raise
        if early:  # the server closed it, and http.client still waits to finish sending the broken-off request
            self.close()
        return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, content)

    def _send(self, path: str, body: bytes, headers: dict[str, str]) -> bool:
        """True when the send broke on an open connection: a server may answer (a 413) and close before it
        has read the whole body, as nginx does, and that answer is still there to read."""
        try:
            self._conn.request("POST", path, body, {"Content-Type": "application/json", **headers})
        except (BrokenPipeError, ConnectionResetError) as exc:
            if self._conn.sock is None:
                raise NoResponse(f"{type(exc).__name__}: {exc}") from exc
            return True
        except ConnectionError as exc:  # refused: nothing was sent
            raise NoResponse(f"{type(exc).__name__}: {exc}") from exc
        return False

    def _head(self, early: bool) -> http.client.HTTPResponse:
        """The status line and headers; NoResponse when the connection ended before a byte of them."""
        try:
            if not early:
                return self._conn.getresponse()
            answer = http.client.HTTPResponse(self._conn.sock, method="POST")
            answer.begin()
            return answer
        except ConnectionError as exc:  # http.client.RemoteDisconnected is one: closed without a byte
            raise NoResponse(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def customers(snapshot: Path | None = None) -> list[dict[str, Any]]:
    """Request bodies for every customer in the snapshot, in file order."""
    return [schema.request_body(row) for row in data.load(snapshot).to_dict("records")]


def replay(
    url: str, bodies: list[dict[str, Any]], count: int, sticky: bool = False, timeout: float = 10.0
) -> Iterator[Reply]:
    """Send `count` /predict requests over one keepalive connection, cycling through `bodies`."""
    if not url.startswith(("http://127.", "http://localhost")):
        raise ValueError(f"traffic goes to loopback only, not {url}")
    count = min(count, MAX_REQUESTS)
    with Connection(url, timeout=timeout) as conn:
        for body in itertools.islice(itertools.cycle(bodies), count):
            headers = {"X-Customer-ID": body[schema.ID]} if sticky else {}
            started = time.perf_counter()
            sent = post(conn, "/predict", body, headers)
            latency_ms = (time.perf_counter() - started) * 1000
            if sent.response is None:
                yield Reply(599, None, latency_ms, None, sent.retried)
            else:
                headers_in = sent.response.headers
                yield Reply(
                    sent.response.status_code,
                    headers_in.get("x-model-variant"),
                    latency_ms,
                    headers_in.get("x-request-id"),
                    sent.retried,
                )


def post(conn: Connection, path: str, body: Any, headers: dict[str, str] | None = None, retry: bool = True) -> Sent:
    """POST `body`; once more on a fresh connection when the first attempt got no response at all.

    `/predict` and `/predict/batch` are idempotent (a prediction changes
    nothing), and a request whose connection closed before any response byte
    was never answered, so sending it again is what RFC 9112 (9.3.1) lets a
    client do, and what the project's own clients do. Only that case is
    retried, and only once: a timeout may still be running on the server, and
    an error status is an answer. The request counts as served only when the
    retry returns a response; `retry=False` shows the raw connection-level
    figure.
    """
    payload = json.dumps(body).encode()
    error = None
    for attempt in range(2 if retry else 1):
        try:
            return Sent(conn.post(path, payload, headers or {}), attempt > 0, error)
        except NoResponse as exc:
            error = str(exc)
        except (OSError, http.client.HTTPException) as exc:  # a timeout, or an answer that started and broke
            return Sent(None, attempt > 0, f"{type(exc).__name__}: {exc}")
    return Sent(None, retry, error)
