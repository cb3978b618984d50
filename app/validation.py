"""Request bodies in, 422s out: every input ends in a bounded 4xx, never a 500 or a stalled worker.

The predict endpoints read the raw body and validate it in one pass of
pydantic-core's Rust JSON parser (`model_validate_json`) instead of FastAPI's
`json.loads` + Python-object validation, which took minutes on a 1 MiB batch
of empty rows and stalled /health; here MAX_BATCH_SIZE stops it at once with
one `too_long` error, a 413 (docs/benchmarks.md, "app/validation.py"). The parser also bounds
nesting (depth 200: "recursion limit exceeded") and refuses lone surrogates
(`"\\ud800"`), so neither reaches the handlers, the logs or the encoder.

What a 422 echoes back is capped: at most MAX_ERRORS errors, each `input`
only as a short scalar (containers become their type name), every string
truncated and made encodable. An error list is attacker-sized; the response
must not be.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

MAX_ERRORS = 20  # errors listed in one 422; the rest are counted in a last entry
MAX_TEXT = 120  # characters of any echoed string (input, location key, context)
JSON_TYPES = ("application/json",)

M = TypeVar("M", bound=BaseModel)


def _is_json(content_type: str | None) -> bool:
    """application/json or application/*+json, as FastAPI accepts (parameters such as charset ignored)."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))


def _invalid(errors: Sequence[Mapping[str, Any]], body: bytes) -> RequestValidationError:
    return RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors], body=body)


async def read_json(request: Request, model: type[M]) -> M:
    """The request body validated as `model`; a 422 (or 400 for bytes that are not UTF-8) otherwise."""
    body = await request.body()
    if not body:
        raise _invalid([{"type": "missing", "loc": (), "msg": "Field required", "input": None}], body)
    if not _is_json(request.headers.get("content-type")):
        raise _invalid(
            [
                {
                    "type": "content_type",
                    "loc": (),
                    "msg": "Input should be a JSON object sent with Content-Type: application/json",
                    "input": request.headers.get("content-type"),
                }
            ],
            body,
        )
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if errors[0]["type"] == "json_invalid" and not _utf8(body):
            raise HTTPException(400, detail="the body cannot be decoded as UTF-8 text") from None
        raise _invalid(errors, body) from None


def _utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _text(value: str) -> str:
    """A string safe to echo: at most MAX_TEXT characters, lone surrogates escaped (UTF-8 cannot encode them)."""
    short = value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "..."
    return short.encode("utf-8", "backslashreplace").decode("utf-8")


def _scalar(value: Any) -> Any:
    """An echoable form of `value`: finite numbers and short strings as they are, anything else named, not copied."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        # a 4,000-digit int would dominate the body, and str() refuses past 4,300 digits
        return value if abs(value) < 10**15 else f"<int of {value.bit_length()} bits>"
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # NaN and Infinity are not JSON
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, bytes | bytearray):
        return _text(bytes(value[: MAX_TEXT * 4]).decode("utf-8", "replace"))
    if isinstance(value, Mapping | list | tuple | set):
        return f"<{type(value).__name__} of {len(value)}>"
    return f"<{type(value).__name__}>"


def public_error(error: Mapping[str, Any]) -> dict[str, Any]:
    """One error in FastAPI's 422 format, every part bounded and encodable."""
    out: dict[str, Any] = {
        "type": _text(str(error.get("type", "value_error"))),
        "loc": [p if isinstance(p, int) else _text(str(p)) for p in list(error.get("loc", ()))[:16]],
        "msg": _text(str(error.get("msg", ""))),
        "input": _scalar(error.get("input")),
    }
    ctx = error.get("ctx")
    if isinstance(ctx, Mapping) and ctx:
        out["ctx"] = {
            _text(str(k)): _scalar(v) if not isinstance(v, Exception) else _text(str(v)) for k, v in ctx.items()
        }
    return out


def public_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The first MAX_ERRORS errors, and one entry counting the others."""
    listed = list(errors)
    shown = [public_error(e) for e in listed[:MAX_ERRORS]]
    if len(listed) > MAX_ERRORS:
        shown.append(
            {
                "type": "too_many_errors",
                "loc": ["body"],
                "msg": f"and {len(listed) - MAX_ERRORS} more errors (only the first {MAX_ERRORS} are listed)",
                "input": None,
            }
        )
    return shown


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 format, bounded in size and total: no input makes this handler fail."""
    return JSONResponse({"detail": public_errors(exc.errors())}, status_code=422)
