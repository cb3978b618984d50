"""Replay customers from a snapshot against the stack: bounded, loopback only.

Stands in for live users during shadow and canary: every request is a real
customer row sent as a real HTTP request through nginx.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from src import data, loopback, schema

MAX_REQUESTS = 100_000  # a replay always ends


@dataclass(frozen=True)
class Reply:
    status: int
    variant: str | None
    latency_ms: float
    request_id: str | None
    retried: bool = False  # the first attempt got no response at all; the retry's outcome is the status


@dataclass(frozen=True)
class Sent:
    """One request as a client sees it: its response (None: lost) and whether a retry was needed."""

    response: httpx.Response | None
    retried: bool
    error: str | None = None  # the transport error that lost (or, when retried, the one that cost) an attempt


# The failures that happen before a response head arrives: the server never answered this request, so
# an idempotent one is safe to send again. A keep-alive connection the server closed while the client
# was sending on it surfaces as one of these (a restart, an idle timeout; an nginx reload did it on
# every stage switch until switches became files nginx reads per request).
BEFORE_ANY_RESPONSE = (httpx.ConnectError, httpx.WriteError, httpx.ReadError, httpx.RemoteProtocolError)


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
    with loopback.client(base_url=url, timeout=timeout) as client:
        for body in itertools.islice(itertools.cycle(bodies), count):
            headers = {"X-Customer-ID": body[schema.ID]} if sticky else {}
            started = time.perf_counter()
            sent = post(client, "/predict", body, headers)
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


def post(client: httpx.Client, path: str, body: Any, headers: dict[str, str] | None = None, retry: bool = True) -> Sent:
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
    request = client.build_request("POST", path, json=body, headers=headers)
    error = None
    for attempt in range(2 if retry else 1):
        try:
            response = client.send(request, stream=True)
        except BEFORE_ANY_RESPONSE as exc:
            error = f"{type(exc).__name__}: {exc}"
            continue
        except httpx.TransportError as exc:
            return Sent(None, attempt > 0, f"{type(exc).__name__}: {exc}")
        try:
            response.read()
        except httpx.TransportError as exc:  # the answer started, then broke: not retried
            return Sent(None, attempt > 0, f"{type(exc).__name__}: {exc}")
        finally:
            response.close()
        return Sent(response, attempt > 0, error)
    return Sent(None, retry, error)
