"""uvicorn's fast HTTP protocol with a bound on request heads: `uvicorn --http app.server:BoundedHttpToolsProtocol`.

The image runs uvicorn on 0.0.0.0:8000 with nothing in front of it, and
uvicorn's httptools protocol has no limit on the request line and headers:
httptools keeps an unfinished header by concatenating each chunk onto it.
A few connections sending one endless header grow the worker by hundreds of
MB and keep it busy copying (docs/benchmarks.md, "app/server.py").
uvicorn's h11 protocol has `--h11-max-incomplete-event-size`, but h11 is the
slower parser; this keeps httptools and closes a connection whose head grows
past MAX_HEAD_BYTES with `431 Request Header Fields Too Large`, as nginx does
(its default is 4 x 8 KiB buffers; this allows twice that).

The count covers the bytes of the reads that start while a request's head
is incomplete. A read that ends the previous request's body is not counted
(with pipelining its tail may start the next head, so that head can pass the
bound by under one read): counting it added body bytes to the next head, and
on a keep-alive connection large batches got a 431 (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024
REFUSAL = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 33\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"request line and headers too long"
)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that refuses a request head over MAX_HEAD_BYTES before buffering more of it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_head = True  # the first bytes of a connection start a request head
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head and self._head_bytes + len(data) > MAX_HEAD_BYTES:
            # Feed only what fits: if the head completes inside it, the request is fine.
            room = max(MAX_HEAD_BYTES - self._head_bytes, 0)
            super().data_received(data[:room])
            if self._in_head:
                self._refuse()
                return
            self.data_received(data[room:])  # the rest, counted afresh (it may start the next head)
            return
        was_in_head = self._in_head
        super().data_received(data)
        if self._in_head and was_in_head:
            self._head_bytes += len(data)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0

    def _refuse(self) -> None:
        self._refused = True
        self.logger.warning("request head over %d bytes: connection closed", MAX_HEAD_BYTES)
        transport: asyncio.Transport = self.transport
        if not transport.is_closing():
            transport.write(REFUSAL)
            transport.close()
