"""The endpoints, and scoring a list of validated customers.

Responses are plain dicts serialised by pydantic-core's `to_json`, in the
`Prediction` shape (checked once at startup): FastAPI re-validating response
models cost ~10 % of a request, and building one model per customer a third
of a batch.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic_core import to_json

from app.observability import log_rows, observe_many
from app.predictor import Predictor
from app.schemas import Batch, BatchPrediction, Customer, Health, Prediction, Problem, ValidationProblem
from app.settings import ServiceSettings
from app.validation import read_json
from src import schema

BAD_BODY: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "the body cannot be decoded as text"},
    413: {"model": Problem, "description": "body over MAX_BODY_BYTES"},
    422: {"model": ValidationProblem, "description": "Validation Error"},
}


def _body(component: str) -> dict[str, Any]:
    """The request body's place in the OpenAPI document: the endpoints read it themselves (app.validation)."""
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}}
    return {"requestBody": {"content": content, "required": True}}


def request_schemas() -> dict[str, Any]:
    """The request models as OpenAPI components.

    Batch without maxItems: a batch over MAX_BATCH_SIZE is a 413, and a schema
    limit would make fuzzers expect a 400/422 for it.
    """
    batch = Batch.model_json_schema(ref_template="#/components/schemas/{model}")
    return {**batch.pop("$defs"), "Batch": batch}


class RawRoute(APIRoute):
    """A route whose endpoint takes the Request alone and returns a Response: FastAPI calls it as is.

    FastAPI's own handler solves dependencies and parses the query string on
    every request, a tenth of a /predict (docs/benchmarks.md, "app/routes.py"); the
    predict endpoints have neither, they read and validate their body
    themselves (app.validation). The route stays an APIRoute, so OpenAPI
    documents it and the app's exception handlers still answer for it.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        params = list(inspect.signature(endpoint).parameters)
        if params != ["request"]:
            raise TypeError(f"{endpoint.__name__} must take only `request`, it takes {params}")
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint


router = APIRouter()  # the endpoints FastAPI serves the usual way
predict_router = APIRouter(route_class=RawRoute)  # the two that score: see RawRoute


INPUT_FIELDS: tuple[str, ...] = tuple(Customer.model_fields)


def predictions(
    predictor: Predictor, variant: str, customers: list[Any]
) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
    """The scoring path of both endpoints (and of the startup check): validated customers -> predictions.

    Returns plain dicts in the `Prediction` shape (self_check validates one against the model at startup)
    and the input columns: per-row `model_dump` and `Prediction` models cost a third of a batch's time
    (docs/benchmarks.md, "app/routes.py").
    """
    columns = {name: [getattr(c, name) for c in customers] for name in INPUT_FIELDS}
    probabilities = predictor.churn_probability(columns).tolist()
    threshold, version = predictor.threshold, predictor.version
    out = [
        {
            "customer_id": customer_id,
            "churn_probability": p,
            "prediction": int(p >= threshold),
            "threshold": threshold,
            "model_version": version,
            "variant": variant,
        }
        for customer_id, p in zip(columns["customer_id"], probabilities, strict=True)
    ]
    return out, columns


LOG_KEYS = (*INPUT_FIELDS, "churn_probability", "prediction")  # per customer, after the request's fields


def score(request: Request, customers: list[Any]) -> list[dict[str, Any]]:
    predictor: Predictor = request.app.state.predictor
    settings: ServiceSettings = request.app.state.settings
    started = time.perf_counter()
    out, columns = predictions(predictor, settings.model_variant, customers)
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    probabilities = [p["churn_probability"] for p in out]
    observe_many(request.app.state.metrics.probability.labels(settings.model_variant), np.asarray(probabilities))
    shared = {
        "request_id": request.state.request_id,
        "variant": settings.model_variant,
        "model_version": predictor.version,
        "latency_ms": latency_ms,
    }
    rows = [
        (*inputs, p["churn_probability"], p["prediction"])
        for inputs, p in zip(zip(*columns.values(), strict=True), out, strict=True)
    ]
    log_rows("prediction", shared, LOG_KEYS, rows)
    return out


def self_check(predictor: Predictor, settings: ServiceSettings) -> None:
    """Score the contract's example customer as /predict would; raises whatever stops that.

    A model can load and still be unable to score (fitted on other columns,
    a version that cannot travel in a header): found here, it stops startup
    instead of answering every /predict with a 500.
    """
    customer = Customer.model_validate_json(json.dumps(schema.EXAMPLE_CUSTOMER))
    (raw,), _ = predictions(predictor, settings.model_variant, [customer])
    prediction = Prediction.model_validate(raw)  # the responses are serialised from plain dicts: check their shape
    if not 0.0 <= prediction.churn_probability <= 1.0:
        raise ValueError(f"churn probability {prediction.churn_probability} is not in [0, 1]")
    to_json(raw)
    predictor.version.encode("ascii")  # it travels in the X-Model-Version header


@predict_router.post(
    "/predict", response_model=None, responses={200: {"model": Prediction}, **BAD_BODY}, openapi_extra=_body("Customer")
)
async def predict(request: Request) -> Response:
    """Churn probability for one customer."""
    customer = await read_json(request, Customer)
    return Response(to_json(score(request, [customer])[0]), media_type="application/json")


@predict_router.post(
    "/predict/batch",
    response_model=None,
    responses={
        200: {"model": BatchPrediction},
        **BAD_BODY,
        413: {"model": Problem, "description": "more customers than MAX_BATCH_SIZE, or body over MAX_BODY_BYTES"},
    },
    openapi_extra=_body("Batch"),
)
async def predict_batch(request: Request) -> Response:
    """Churn probabilities for up to MAX_BATCH_SIZE customers, scored in one vectorised call."""
    limit = request.app.state.settings.max_batch_size
    try:
        batch = await read_json(request, request.app.state.batch_model)
    except RequestValidationError as exc:
        too_long = [e for e in exc.errors() if e["type"] == "too_long" and tuple(e["loc"]) == ("body", "customers")]
        if not too_long:
            raise
        count = too_long[0].get("ctx", {}).get("actual_length") or f"more than {limit}"
        return JSONResponse({"detail": f"batch of {count} customers exceeds the limit of {limit}"}, status_code=413)
    return Response(to_json({"predictions": score(request, batch.customers)}), media_type="application/json")


@router.api_route("/health", methods=["GET", "HEAD"], response_model=Health)  # RFC 9110: HEAD wherever GET is
async def health(request: Request) -> Health:
    """Liveness, and which model this process serves (HEAD: the same status and headers, no body)."""
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
