"""HTTP clients for the services this project runs on 127.0.0.1: one TLS context per process, not one per client.

httpx builds a TLS context for every Client, and `httpx.get` makes a Client
per call: each loads certifi's CA bundle, ~27 ms of CPU, though every URL
here is plain http on loopback. A readiness poll asks ten times a second and
a test asks many times, so the deploy surface's test process alone spent
~16 s of CPU on CA bundles (585 of them, docs/ci.md). httpx takes a ready
context as `verify=`; this module makes it once per process (the same
context httpx would make) and every client here shares it.
"""

from __future__ import annotations

import ssl
from functools import cache
from typing import Any

import httpx

DEFAULT_TIMEOUT_S = 5.0  # httpx's own default


@cache
def tls() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def client(base_url: str = "", timeout: float = DEFAULT_TIMEOUT_S, **kwargs: Any) -> httpx.Client:
    """`httpx.Client(...)` with the process's one TLS context."""
    return httpx.Client(base_url=base_url, timeout=timeout, verify=tls(), **kwargs)


def get(url: str, timeout: float = DEFAULT_TIMEOUT_S, **kwargs: Any) -> httpx.Response:
    """`httpx.get(...)` without a CA bundle loaded for it."""
    with client(timeout=timeout) as http:
        return http.get(url, **kwargs)


def post(url: str, timeout: float = DEFAULT_TIMEOUT_S, **kwargs: Any) -> httpx.Response:
    """`httpx.post(...)` without a CA bundle loaded for it."""
    with client(timeout=timeout) as http:
        return http.post(url, **kwargs)
