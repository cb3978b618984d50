"""FastAPI app: `uvicorn app.main:app`.

The model is loaded once, in the lifespan, from an artifact whose gate passed
and whose sha256 matches its metrics.json; a missing, tampered or ungated
artifact stops the process at startup, so the service never answers without
the gated model.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability import Metrics, configure_logging, log_event
from app.predictor import Predictor
from app.schemas import Batch, BatchPrediction, Customer, Health, Prediction
from app.settings import Settings

BAD_BODY: dict[int | str, dict[str, Any]] = {
    400: {"description": "the body cannot be decoded as text"},
    413: {"description": "body over MAX_BODY_BYTES"},
}


class ModelLoadError(RuntimeError):
    """The artifact is missing, unreadable, ungated, or not the file the gate measured."""


class Observe:
    """Request id, model headers, body limit, Prometheus counters and the JSON access log.

    One plain ASGI middleware: Starlette's BaseHTTPMiddleware, and the stacked
    body-limit middlewares, each cost more per request than scoring a customer.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, max_body_bytes: int) -> None:
        self.app, self.metrics, self.max_body_bytes = app, metrics, max_body_bytes

    def _limited(self, scope: Scope, receive: Receive) -> Receive | None:
        """None when the declared body is over the limit; else a receive that enforces it while streaming."""
        declared = _header(scope, b"content-length")
        if declared is not None:
            return receive if not declared.isdigit() or int(declared) <= self.max_body_bytes else None
        seen = 0

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body_bytes:
                # HTTPException passes through FastAPI's body parsing and becomes the 413 response.
                raise HTTPException(413, detail=self._too_large_detail)
            return message

        return counting

    @property
    def _too_large_detail(self) -> str:
        return f"request body exceeds MAX_BODY_BYTES={self.max_body_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _header(scope, b"x-request-id") or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        state = scope["app"].state
        variant, version = state.settings.model_variant, state.predictor.version
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

        limited = self._limited(scope, receive)
        try:
            if limited is None:
                await JSONResponse({"detail": self._too_large_detail}, 413)(scope, receive, send_with_headers)
            else:
                await self.app(scope, limited, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            endpoint = route.path if route is not None else "unmatched"
            self.metrics.requests.labels(variant, endpoint, str(status)).inc()
            self.metrics.latency.labels(variant, endpoint).observe(elapsed)
            log_event(
                "access",
                request_id=request_id,
                method=scope["method"],
                path=scope["path"],
                status=status,
                latency_ms=round(elapsed * 1000, 3),
                variant=variant,
            )


def _json_safe(value: Any) -> Any:
    """NaN and Infinity are not JSON: echo them back as strings instead of failing with a 500."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 format, made safe for the non-finite numbers it must reject."""
    return JSONResponse({"detail": _json_safe(jsonable_encoder(exc.errors()))}, status_code=422)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; settings default to the environment (read once, at startup)."""
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging()
        resolved = settings or Settings()
        try:
            predictor = Predictor.load(resolved)
        except (OSError, ValueError, KeyError, EOFError) as exc:
            log_event("startup_failed", reason=str(exc), model_path=str(resolved.model_path))
            raise ModelLoadError(str(exc)) from None
        app.state.settings, app.state.predictor = resolved, predictor
        log_event("model_loaded", variant=resolved.model_variant, model_version=predictor.version)
        yield

    app = FastAPI(title="churn-service", version="1.0.0", lifespan=lifespan)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.state.metrics = metrics

    def score(request: Request, customers: list[Customer]) -> list[Prediction]:
        predictor: Predictor = request.app.state.predictor
        settings: Settings = request.app.state.settings
        started = time.perf_counter()
        rows = [c.model_dump() for c in customers]
        columns = {name: [row[name] for row in rows] for name in Customer.model_fields}
        probabilities = predictor.churn_probability(columns).tolist()
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        observe_probability = metrics.probability.labels(settings.model_variant).observe
        out = []
        for customer, row, p in zip(customers, rows, probabilities, strict=True):
            observe_probability(p)
            prediction = Prediction(
                customer_id=customer.customer_id,
                churn_probability=p,
                prediction=int(p >= predictor.threshold),
                threshold=predictor.threshold,
                model_version=predictor.version,
                variant=settings.model_variant,
            )
            log_event(
                "prediction",
                request_id=request.state.request_id,
                variant=settings.model_variant,
                model_version=predictor.version,
                **row,
                churn_probability=p,
                prediction=prediction.prediction,
                latency_ms=latency_ms,
            )
            out.append(prediction)
        return out

    # Responses are serialised by pydantic directly: the models are built and
    # checked in score(), and FastAPI re-validating them cost ~10 % of a request.
    @app.post("/predict", response_model=None, responses={200: {"model": Prediction}, **BAD_BODY})
    async def predict(customer: Customer, request: Request) -> Response:
        """Churn probability for one customer."""
        return Response(score(request, [customer])[0].model_dump_json(), media_type="application/json")

    @app.post(
        "/predict/batch",
        response_model=None,
        responses={
            200: {"model": BatchPrediction},
            **BAD_BODY,
            413: {"description": "more customers than MAX_BATCH_SIZE, or body over MAX_BODY_BYTES"},
        },
    )
    async def predict_batch(batch: Batch, request: Request) -> Response:
        """Churn probabilities for up to MAX_BATCH_SIZE customers, scored in one vectorised call."""
        limit = request.app.state.settings.max_batch_size
        if len(batch.customers) > limit:
            return JSONResponse(
                {"detail": f"batch of {len(batch.customers)} customers exceeds the limit of {limit}"},
                status_code=413,
            )
        body = BatchPrediction(predictions=score(request, batch.customers)).model_dump_json()
        return Response(body, media_type="application/json")

    @app.get("/health", response_model=Health)
    async def health(request: Request) -> Health:
        """Liveness, and which model this process serves."""
        predictor: Predictor = request.app.state.predictor
        return Health(
            status="ok",
            variant=request.app.state.settings.model_variant,
            model_version=predictor.version,
            model_sha256=predictor.sha256,
            holdout_auc=predictor.holdout_auc,
        )

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(Observe, metrics=metrics, max_body_bytes=(settings or Settings()).max_body_bytes)
    return app


app = create_app()
