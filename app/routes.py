"""The endpoints, and scoring a list of validated customers.

Responses are serialised by pydantic directly: the models are built and
checked in `score`, and FastAPI re-validating them cost ~10 % of a request.
"""

from __future__ import annotations

import math
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.observability import log_event
from app.predictor import Predictor
from app.schemas import Batch, BatchPrediction, Customer, Health, Prediction
from app.settings import ServiceSettings

BAD_BODY: dict[int | str, dict[str, Any]] = {
    400: {"description": "the body cannot be decoded as text"},
    413: {"description": "body over MAX_BODY_BYTES"},
}

router = APIRouter()


def score(request: Request, customers: list[Any]) -> list[Prediction]:
    predictor: Predictor = request.app.state.predictor
    settings: ServiceSettings = request.app.state.settings
    started = time.perf_counter()
    rows = [c.model_dump() for c in customers]
    columns = {name: [row[name] for row in rows] for name in Customer.model_fields}
    probabilities = predictor.churn_probability(columns).tolist()
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    observe_probability = request.app.state.metrics.probability.labels(settings.model_variant).observe
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


@router.post("/predict", response_model=None, responses={200: {"model": Prediction}, **BAD_BODY})
async def predict(customer: Customer, request: Request) -> Response:  # type: ignore[valid-type]
    """Churn probability for one customer."""
    return Response(score(request, [customer])[0].model_dump_json(), media_type="application/json")


@router.post(
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


@router.get("/health", response_model=Health)
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


@router.get("/metrics", include_in_schema=False)
async def prometheus(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


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
