"""The ML pipeline's configuration: every environment variable it reads, in one class.

Read at call time (`settings()`, not at import) so a test or a CLI flag can
point the pipeline at another snapshot without reloading modules. Each
component has its own settings class (`app.settings.ServiceSettings`,
`deploy.stack.StackSettings`, `deploy.rollout.RolloutSettings`); docs/configuration.md
is generated from all of them (`make config-doc`) and a test keeps it in step.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
SEED = 42


class PipelineSettings(BaseSettings):
    """Data, seed, artifact folder and production baseline: what the data tests, the gate and training read."""

    # env_ignore_empty: make exports an unset variable as "", which must mean "use the default".
    model_config = SettingsConfigDict(env_ignore_empty=True, frozen=True, extra="ignore")

    churn_data: Path = Field(ROOT / "data" / "churn.csv", description="the snapshot every surface reads")
    artifact_dir: Path = Field(ROOT, description="where the gate writes the gated pair (a failure goes to rejected/)")
    churn_seed: int = Field(SEED, description="the training seed (the holdout split stays fixed at 42)")
    prod_metrics: Path = Field(
        ROOT / "prod_metrics.json", description="the production baseline the regression check must not fall below"
    )


def settings() -> PipelineSettings:
    return PipelineSettings()
