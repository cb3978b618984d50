"""Observe: request id, model headers, the body limit, Prometheus counters and the JSON access log.

One plain ASGI middleware: Starlette's BaseHTTPMiddleware, and stacked
body-limit middlewares, each cost more per request than scoring a customer.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability import Metrics, log_event


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def new_request_id() -> str:
    """128 random bits as 32 hex digits, the shape of uuid4().hex: an id to join log lines, not a secret.

    uuid4() reads os.urandom, a syscall per request (~3 % of a /predict); the
    process's Mersenne Twister, seeded from os.urandom at start, is not.
    """
    return f"{random.getrandbits(128):032x}"


CLIENT_CLOSED = 499  # nginx's "client closed request": logged and counted, never a server error


def _without_refusal_traceback(state: Any, send: Send) -> Send:
    """The lifespan's `send`, minus the traceback of a startup refusal (app.main sets `startup_refused`).

    Starlette reports a failed startup to uvicorn with the formatted
    traceback, which uvicorn prints to stderr under the one `startup_failed`
    line that already says why. Only that refusal is quietened: any other
    startup exception keeps its traceback, since it is a bug to read.
    """

    async def quiet(message: Message) -> None:
        if message["type"] == "lifespan.startup.failed" and getattr(state, "startup_refused", False):
            message = {**message, "message": ""}
        await send(message)

    return quiet


def response_headers() -> dict[str, dict[str, Any]]:
    """The headers Observe adds to every response, as OpenAPI declares them (app.main puts them on each)."""
    return {
        "X-Request-ID": {
            "description": "the caller's X-Request-ID echoed, or a new 32-hex-digit id; joins the log lines",
            "required": True,
            "schema": {"type": "string", "minLength": 1},
        },
        "X-Model-Variant": {
            "description": "which variant answered (MODEL_VARIANT)",
            "required": True,
            "schema": {"type": "string", "enum": ["stable", "candidate"]},
        },
        "X-Model-Version": {
            "description": "the model version serving (the record's model_version, or MODEL_VERSION)",
            "required": True,
            "schema": {"type": "string", "minLength": 1},
        },
    }


def too_large(limit: int) -> str:
    return f"request body exceeds MAX_BODY_BYTES={limit} bytes"


def _endpoint(scope: Scope) -> str:
    """The route template, or for a request answered before routing (413, a middleware's 500) its path when
    that is one of the app's routes: an error must count against the endpoint the caller used, or canary
    analysis filtering on endpoint never sees it (found when PromQL read 26 of 43 candidate requests).

    Asked of the routes themselves (`matches`): routes included from a router are not plain `Route`s with
    a `path` (FastAPI 0.165). No route here has path parameters, so the path is the template.
    """
    route = scope.get("route")
    if route is not None:
        return route.path
    known = any(r.matches(scope)[0] is not Match.NONE for r in scope["app"].routes)
    return scope["path"] if known else "unmatched"


class Observe:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics
        self._series: dict[tuple[str, str, int], tuple[Callable[[], None], Callable[[float], None]]] = {}

    def _children(self, variant: str, endpoint: str, status: int) -> tuple[Callable[[], None], Callable[[float], None]]:
        """The request counter's inc and the latency histogram's observe for one series, looked up once.

        `labels()` takes a lock and builds the label tuple on every call; cached, the two metrics cost
        ~2 us a request. The key space is small: endpoints are route templates or "unmatched".
        """
        key = (variant, endpoint, status)
        found = self._series.get(key)
        if found is None:
            found = (
                self.metrics.requests.labels(variant, endpoint, str(status)).inc,
                self.metrics.latency.labels(variant, endpoint).observe,
            )
            self._series[key] = found
        return found

    @staticmethod
    def _limited(scope: Scope, receive: Receive, limit: int) -> Receive | None:
        """None when the declared body is over the limit; else a receive that enforces it while streaming."""
        declared = header(scope, b"content-length")
        if declared is not None:
            return receive if not declared.isdigit() or int(declared) <= limit else None
        seen = 0

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                # HTTPException passes through FastAPI's body parsing and becomes the 413 response.
                raise HTTPException(413, detail=too_large(limit))
            return message

        return counting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, _without_refusal_traceback(scope["app"].state, send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = header(scope, b"x-request-id") or new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        state = scope["app"].state
        variant, version, limit = state.settings.model_variant, state.predictor.version, state.settings.max_body_bytes
        status = 500

        extra = [
            (b"x-request-id", request_id.encode("latin-1")),
            (b"x-model-variant", variant.encode()),
            (b"x-model-version", version.encode()),
        ]

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        limited = self._limited(scope, receive, limit)
        try:
            if limited is None:
                await JSONResponse({"detail": too_large(limit)}, 413)(scope, receive, send_with_headers)
            else:
                await self.app(scope, limited, send_with_headers)
        except ClientDisconnect:
            # The caller hung up before its body arrived: nobody waits for an answer, nothing broke here.
            # nginx's 499, counted apart from 5xx, so impatient clients cannot roll back a healthy canary.
            status = CLIENT_CLOSED
        finally:
            elapsed = time.perf_counter() - started
            endpoint = _endpoint(scope)
            count, observe = self._children(variant, endpoint, status)
            count()
            if status != CLIENT_CLOSED:  # how long a client took to give up is no latency of the model's
                observe(elapsed)
            log_event(
                "access",
                request_id=request_id,
                method=scope["method"],
                path=scope["path"],
                status=status,
                latency_ms=round(elapsed * 1000, 3),
                variant=variant,
            )
