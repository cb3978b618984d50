"""The composition root: `uvicorn app.main:app`.

The model is loaded once, in the lifespan, from an artifact whose record
says the gate passed and whose sha256 matches the file; a missing, tampered,
ungated or untrusted artifact stops the process at startup with one
`startup_failed` line, so the service never answers without the gated model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NoReturn

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app.middleware import Observe
from app.observability import Metrics, configure_logging, log_event
from app.predictor import Predictor
from app.routes import router, validation_error
from app.settings import ServiceSettings
from src.artifacts import ArtifactError
from src.record import first_error


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
            _refuse(f"invalid service setting {first_error(exc)}", "")
        except (ArtifactError, OSError, ValueError) as exc:
            _refuse(str(exc), str(resolved.model_path))
        app.state.settings, app.state.predictor = resolved, predictor
        log_event("model_loaded", variant=resolved.model_variant, model_version=predictor.version)
        app.state.metrics.start_at_zero(resolved.model_variant, ("/predict", "/predict/batch"))
        yield

    app = FastAPI(title="churn-service", version="1.0.0", lifespan=lifespan)
    app.state.metrics = Metrics()
    app.include_router(router)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_middleware(Observe, metrics=app.state.metrics)
    return app


def _refuse(reason: str, model_path: str) -> NoReturn:
    log_event("startup_failed", reason=reason, model_path=model_path)
    raise ModelLoadError(reason) from None


app = create_app()
