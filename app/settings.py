"""Every environment variable the service reads, in one place.

`create_app(Settings(...))` overrides any of them in tests; in production they
come from the environment (Dockerfile, compose.yaml, the local stack).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from src import artifacts, config


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, frozen=True)

    model_path: Path = Field(default=config.ROOT / artifacts.MODEL_FILE, description="MODEL_PATH: the gated artifact")
    model_metrics: Path | None = Field(
        default=None, description="MODEL_METRICS: its metrics.json (default: metrics.json beside the model)"
    )
    model_variant: Literal["stable", "candidate"] = Field(default="stable", description="MODEL_VARIANT")
    model_version: str | None = Field(default=None, description="MODEL_VERSION (default: from metrics.json)")
    decision_threshold: float = Field(default=0.5, gt=0.0, lt=1.0, description="DECISION_THRESHOLD")
    max_batch_size: int = Field(default=1000, ge=1, description="MAX_BATCH_SIZE: customers per /predict/batch")
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="MAX_BODY_BYTES: larger bodies get 413")
    require_gate: bool = Field(
        default=True, description="REQUIRE_GATE: refuse an artifact whose metrics.json does not record a passed gate"
    )

    @property
    def metrics_path(self) -> Path:
        return self.model_metrics or self.model_path.with_name(artifacts.METRICS_FILE)
