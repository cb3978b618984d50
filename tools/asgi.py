"""One HTTP request straight into an ASGI app: no socket, no HTTP parsing, the app's own code only.

How a test feeds the app a body cut off by a client hanging up, and how the
benchmarks time the app without uvicorn's parsing in the figure. It imports
nothing of the project, so benchmarks.hot_frames can load it before it points
the import path at another checkout's app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Message = dict[str, Any]
ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Any]


def post_scope(path: str, body_bytes: int, client_port: int = 50000) -> dict[str, Any]:
    """The scope an ASGI server builds for `POST path` with a JSON body of `body_bytes` from 127.0.0.1."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(body_bytes).encode())],
        "client": ("127.0.0.1", client_port),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def call(app: ASGIApp, scope: dict[str, Any], messages: list[Message]) -> list[Message]:
    """Feed `messages` to `app` in order (then `http.disconnect`, as a closed socket reads); what it sent back."""
    pending, sent = list(messages), []

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def post(app: ASGIApp, path: str, body: bytes) -> list[Message]:
    """One whole `POST path` with `body`; the messages the app sent (start and body)."""
    return await call(app, post_scope(path, len(body)), [{"type": "http.request", "body": body, "more_body": False}])
