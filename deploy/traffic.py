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

from src import data, schema

MAX_REQUESTS = 100_000  # a replay always ends


@dataclass(frozen=True)
class Reply:
    status: int
    variant: str | None
    latency_ms: float
    request_id: str | None


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
    with httpx.Client(base_url=url, timeout=timeout) as client:
        for body in itertools.islice(itertools.cycle(bodies), count):
            headers = {"X-Customer-ID": body[schema.ID]} if sticky else {}
            started = time.perf_counter()
            response = _post(client, body, headers)
            latency_ms = (time.perf_counter() - started) * 1000
            if response is None:
                yield Reply(599, None, latency_ms, None)
            else:
                headers_in = response.headers
                yield Reply(
                    response.status_code, headers_in.get("x-model-variant"), latency_ms, headers_in.get("x-request-id")
                )


def _post(client: httpx.Client, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response | None:
    """POST once more on a fresh connection if the server closed the kept-alive one first.

    A graceful nginx reload retires old workers, which close idle keepalive
    connections; a request racing that close never reached the server, and
    retrying it is what well-behaved HTTP clients do. Anything else is a reply.
    """
    for attempt in range(2):
        try:
            return client.post("/predict", json=body, headers=headers)
        except (httpx.RemoteProtocolError, httpx.ConnectError, httpx.ReadError):
            if attempt:
                return None
        except httpx.TransportError:
            return None
    return None
