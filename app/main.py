"""The composition root: `uvicorn app.main:app`.

The model is loaded once, in the lifespan, from an artifact whose record
says the gate passed and whose sha256 matches the file; a missing, tampered,
ungated or untrusted artifact stops the process at startup with one
`startup_failed` line, so the service never answers without the gated model.
A model that loads but cannot score the contract's example customer through
the /predict path stops it the same way, instead of serving 500s.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.telemetry import TelemetryConfig
from pydantic import ValidationError

from app.middleware import Observe, response_headers
from app.observability import Metrics, configure_logging, log_event
from app.predictor import Predictor
from app.routes import predict_router, request_schemas, router, self_check
from app.schemas import bounded_batch
from app.settings import ServiceSettings
from app.validation import validation_error
from src import artifacts
from src.artifacts import ArtifactError
from src.record import first_error

# FastAPI's native OpenTelemetry asks the global providers on every request (~5 us, more when the registry
# extra installs opentelemetry); the service's metrics are Prometheus (app.observability), nothing reads OTel.
NO_OTEL: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


class ModelLoadError(RuntimeError):
    """The artifact is missing, unreadable, ungated, untrusted, or not the file the gate measured."""


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """Build the app; settings default to the environment (read once, at startup)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging()
        try:
            resolved = settings or ServiceSettings()  # read here, so a bad variable is a startup_failed line too
            predictor = Predictor.load(resolved)
        except ValidationError as exc:
            _refuse(app, f"invalid service setting {first_error(exc)}", "")
        except (ArtifactError, OSError, ValueError) as exc:
            _refuse(app, str(exc) + _next_step(resolved.model_path), str(resolved.model_path))
        except Exception as exc:  # the loader answers ArtifactError; anything else is still one line, not a stack
            _refuse(app, f"{resolved.model_path}: cannot be served ({_one_line(exc)})", str(resolved.model_path))
        try:
            self_check(predictor, resolved)
        except Exception as exc:  # whatever stops the example customer stops the service
            _refuse(
                app,
                f"the model loads but cannot score the contract's example customer ({_one_line(exc)})",
                str(resolved.model_path),
            )
        app.state.settings, app.state.predictor = resolved, predictor
        app.state.batch_model = bounded_batch(resolved.max_batch_size)
        _freeze_startup_objects()
        log_event("model_loaded", variant=resolved.model_variant, model_version=predictor.version)
        app.state.metrics.start_at_zero(resolved.model_variant, ("/predict", "/predict/batch"))
        yield

    app = FastAPI(title="churn-service", version="1.0.0", lifespan=lifespan, telemetry=NO_OTEL)
    app.state.metrics = Metrics()
    app.include_router(predict_router)
    app.include_router(router)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_middleware(Observe, metrics=app.state.metrics)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the request models (the endpoints validate them themselves, app.validation)
    and the headers app.middleware adds to every response, declared on every response so clients and
    schemathesis can rely on them."""
    if app.openapi_schema is None:
        with warnings.catch_warnings():
            # One route serving GET and HEAD gets one generated operationId for both (FastAPI 0.165);
            # each method's is made unique below.
            warnings.filterwarnings("ignore", message="Duplicate Operation ID", category=UserWarning)
            document = FastAPI.openapi(app)
        schemas = {**document["components"]["schemas"], **request_schemas()}
        document["components"]["schemas"] = dict(sorted(schemas.items()))
        for operations in document["paths"].values():
            if "head" in operations and "get" in operations:
                base = operations["get"]["operationId"].rsplit("_", 1)[0]
                operations["get"]["operationId"], operations["head"]["operationId"] = f"{base}_get", f"{base}_head"
            for operation in operations.values():
                for answer in operation.get("responses", {}).values():
                    answer["headers"] = {**answer.get("headers", {}), **response_headers()}
    return app.openapi_schema  # type: ignore[return-value]


def _next_step(model_path: Path) -> str:
    """What to run when there is no model file: gate one, or read why the last gate run failed."""
    if model_path.is_file():
        return ""
    rejected = model_path.parent / artifacts.REJECTED_DIR / artifacts.METRICS_FILE
    if rejected.is_file():
        return f": the last gate run failed (its record is {rejected}); `make report` shows which check"
    return ": run `make model` (or `make run`) to train and gate one"


def _freeze_startup_objects() -> None:
    """Move everything loaded so far out of the cyclic garbage collector's reach.

    pandas, scikit-learn and scipy leave a six-figure count of tracked objects,
    and a full collection walks all of them, stalling whichever request
    happens to allocate enough (docs/benchmarks.md, "app/main.py"). Frozen,
    a full collection takes microseconds; the startup objects live as long
    as the process anyway.
    """
    gc.collect()
    gc.freeze()


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _refuse(app: FastAPI, reason: str, model_path: str) -> NoReturn:
    """The one `startup_failed` line; app.middleware keeps uvicorn from printing this exception's traceback."""
    log_event("startup_failed", reason=reason, model_path=model_path)
    app.state.startup_refused = True
    raise ModelLoadError(reason) from None


app = create_app()
