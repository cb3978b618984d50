"""Every environment variable the service reads, in one class.

`create_app(ServiceSettings(...))` overrides any of them in tests; in
production they come from the environment (Dockerfile, compose.yaml, the
local stack). docs/configuration.md is generated from this class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from src import artifacts, config
from src.record import Version


class ServiceSettings(BaseSettings):
    """The prediction service (`uvicorn app.main:app`)."""

    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, frozen=True, env_ignore_empty=True, extra="ignore"
    )

    model_path: Path = Field(default=config.ROOT / artifacts.MODEL_FILE, description="the gated model file")
    model_metrics: Path | None = Field(
        default=None, description="its record, metrics.json (default: metrics.json beside the model)"
    )
    model_variant: Literal["stable", "candidate"] = Field(
        default="stable", description="labels responses, logs and metrics"
    )
    model_version: Version | None = Field(
        default=None, description="override the reported version (default: model_version from the record)"
    )
    decision_threshold: float = Field(
        default=0.5, gt=0.0, lt=1.0, description="probability at or above which `prediction` is 1"
    )
    max_batch_size: int = Field(default=1000, ge=1, description="customers per /predict/batch")
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="larger request bodies get 413")
    require_gate: bool = Field(
        default=True, description="refuse a model whose record does not say the gate passed (false: experiments only)"
    )

    @property
    def metrics_path(self) -> Path:
        return self.model_metrics or artifacts.record_path_for(self.model_path)
