"""Every setting of deploy/, read from the environment in one place: the leaf of the package.

The stack, the rollout, compose, the Kubernetes export, the fault drill and
the release checks each read their variables through one class here, so a
driver, a rule and a command agree on a name and its default, and
docs/configuration.md is generated from these classes (`make config-doc`).
Nothing here imports another deploy module: rules, drivers and commands all
sit above it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from src import artifacts
from src.config import ROOT

HOST = "127.0.0.1"  # every process the local stack starts listens here only
DEFAULT_TOLERANCE = 0.02  # the rollout's ratchet, used only when the candidate's gate had no baseline to record one


class StackSettings(BaseSettings):
    """The local stack (`make stack-up`): which models, which stage, which ports, where its files go."""

    model_config = SettingsConfigDict(env_ignore_empty=True, frozen=True, extra="ignore", populate_by_name=True)

    stable_model: Path = Field(ROOT / artifacts.MODEL_FILE, description="the model users have now")
    candidate_model: Path = Field(ROOT / artifacts.MODEL_FILE, description="the gated newcomer")
    mode: str = Field("shadow", description="stable, shadow or canary")
    canary_percent: int = Field(5, description="share of requests to the candidate in canary (0: the stable stage)")
    canary_sticky: bool = Field(False, description="on: hash X-Customer-ID so a customer always meets one model")
    port: int = Field(8080, alias="STACK_PORT", description="nginx, the stack's front door")
    stable_port: int = Field(8001, description="the stable service")
    candidate_port: int = Field(8002, description="the candidate service")
    prometheus: bool = Field(
        True, description="also run Prometheus scraping both services (false: a lighter stack, log analysis only)"
    )
    prometheus_port: int = Field(
        9090, description="Prometheus, scraping both services every second (deploy/drivers/prometheus.py)"
    )
    shadow_timeout: str = Field("1s", description="how long nginx waits for a mirrored request")
    stack_dir: Path = Field(ROOT / ".stack", description="rendered config, pids, logs, rollout.json")
    candidate_app: str = Field(
        "app.main:app", description="another ASGI app for the candidate (fault drills: deploy.drivers.faulty:app)"
    )
    candidate_env: dict[str, str] = Field(default_factory=dict, description="extra environment for the candidate")

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://{HOST}:{self.prometheus_port}"

    def service_url(self, variant: str) -> str:
        return f"http://{HOST}:{self.stable_port if variant == 'stable' else self.candidate_port}"


class RolloutSettings(BaseSettings):
    """Every threshold of the rollout, printed at start. Env: ROLLOUT_<NAME> (e.g. ROLLOUT_STEPS=10,50,100)."""

    model_config = SettingsConfigDict(env_prefix="ROLLOUT_", env_ignore_empty=True, frozen=True, extra="ignore")

    steps: Annotated[tuple[int, ...], NoDecode] = Field((5, 25, 50, 100), description="canary percentages, in order")
    window_requests: int = Field(300, description="requests replayed per canary window at least")
    shadow_requests: int = Field(
        1500, description="requests replayed in shadow: enough to see a candidate slow on 3 % of requests"
    )
    max_requests: int = Field(4000, description="... and at most: a replay always ends")
    min_requests: int = Field(100, description="candidate requests a window needs to be judged at all")
    inconclusive_retries: int = Field(2, description="too few requests: wait this many more windows, then fail")
    inconclusive_wait_s: float = Field(2.0, description="seconds per inconclusive wait")
    min_success_rate: float = Field(0.99, description="share of candidate requests answered < 400")
    p99_ratio: float = Field(1.2, description="latency bound: max(ratio x stable p99, stable p99 + slack)")
    p99_slack_ms: float = Field(5.0, description="the absolute latency allowance, in ms")
    latency_alpha: float = Field(
        0.001, gt=0, lt=1, description="significance of 'the candidate is slower' (per window)"
    )
    tail_excess_min: float = Field(
        0.01, gt=0, lt=1, description="smallest excess share of candidate requests over the bound"
    )
    shadow_psi_max: float = Field(0.1, description="score PSI on identical requests above it: train/serve skew")
    churn_share_floor: float = Field(0.05, description="smallest allowed churn-share gap (chance's bound when larger)")
    churn_share_alpha: float = Field(
        0.0001, gt=0, lt=1, description="chance of calling an unchanged churn share shifted (per window, two-sided)"
    )
    regression_tolerance: float = Field(
        DEFAULT_TOLERANCE, description="the gate's, read from the candidate's record (this is only a fallback)"
    )
    traffic: str = Field("replay", description="replay: drive snapshot customers; none: judge real traffic only")
    skip_shadow: bool = Field(False, description="go straight to the canary steps")
    gate_data: Path | None = Field(
        None, description="the snapshot the candidate was gated on, to re-measure it (default: CHURN_DATA)"
    )
    drill_pause_at: str | None = Field(
        None,
        description="fault drill: pause the promotion at this step (deploy/control/promotion.py) for drill_pause_s",
    )
    drill_pause_s: float = Field(30.0, description="fault drill: how long the promotion pauses")
    analysis: str = Field(
        "logs",
        description="prometheus: success and latency judged by the cluster's PromQL too (deploy/drivers/prom_engine)",
    )

    @field_validator("steps", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return tuple(int(x) for x in value.split(",")) if isinstance(value, str) else value

    def check(self) -> None:
        if not self.steps or any(not 0 < p <= 100 for p in self.steps) or list(self.steps) != sorted(self.steps):
            raise ValueError(f"steps must rise within 1..100, not {self.steps}")
        if self.steps[-1] != 100:
            raise ValueError("the last canary step must be 100 %: promotion follows it")
        if self.traffic not in ("replay", "none"):
            raise ValueError(f"traffic must be 'replay' or 'none', not {self.traffic!r}")
        if self.analysis not in ("logs", "prometheus"):
            raise ValueError(f"analysis must be 'logs' or 'prometheus', not {self.analysis!r}")


class ComposeSettings(BaseSettings):
    """docker compose (`make compose-up`): the variables compose.yaml reads that can be wrong before Docker starts."""

    model_config = SettingsConfigDict(env_ignore_empty=True, frozen=True, extra="ignore")

    stable_dir: Path = Field(
        Path("artifacts/stable"), description="folder with the gated pair stable serves (relative: to the checkout)"
    )
    candidate_dir: Path = Field(Path("artifacts/candidate"), description="folder with the candidate's gated pair")
    nginx_mode: str = Field("shadow", description="the stage nginx starts in: stable, shadow or canary")
    # A string, so that `x` or `2.5` reaches deploy.rules.stages.stage() and is refused in its words.
    canary_percent: str = Field("5", description="share of requests to the candidate in canary (0: the stable stage)")


class ExportSettings(BaseSettings):
    """The Kubernetes export (`python -m deploy.export`): where the cluster differs from this machine."""

    model_config = SettingsConfigDict(env_prefix="EXPORT_", env_ignore_empty=True, frozen=True, extra="ignore")

    name: str = Field(
        "churn-service", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", description="object names and the app label"
    )
    namespace: str = Field("churn", description="the namespace every object goes into")
    image: str = Field("churn-service:local", description="the service image, gated artifact baked in")
    replicas: int = Field(2, ge=1, description="service pods")
    prometheus: str = Field(
        "http://prometheus-server.monitoring.svc:80", description="the Prometheus the analysis queries"
    )
    gateway: str = Field("public", description="the Gateway API gateway the HTTPRoute attaches to")
    gateway_namespace: str = Field("gateway", description="... and its namespace")
    hostname: str = Field("churn.example.com", description="the host users call")
    window: str = Field("1m", pattern=r"^[0-9]+[sm]$", description="one analysis window per canary step")
    reference_window: str = Field(
        "10m", pattern=r"^[0-9]+[sm]$", description="how far back stable's latency is measured"
    )
    shadow_customers: int = Field(300, ge=50, description="identical requests per variant for the shadow PSI check")


class FaultSettings(BaseSettings):
    """The drill's faults (a candidate only; never set in production)."""

    model_config = SettingsConfigDict(env_prefix="FAULT_", env_ignore_empty=True, frozen=True, extra="ignore")

    delay_s: float = Field(0.0, ge=0.0, description="added to /predict requests, in seconds")
    slow_share: float = Field(1.0, ge=0.0, le=1.0, description="share of /predict requests that get the delay")
    error_rate: float = Field(0.0, ge=0.0, le=1.0, description="share of /predict answered with HTTP 500")


class ReleaseChecksSettings(BaseSettings):
    """The release-check server a cluster rollout calls (`python -m deploy.release_checks serve`)."""

    model_config = SettingsConfigDict(env_prefix="RELEASE_CHECKS_", env_ignore_empty=True, frozen=True, extra="ignore")

    host: str = Field(HOST, description="the address `serve` listens on (0.0.0.0 inside a pod)")
