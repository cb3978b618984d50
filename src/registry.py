"""The model registry (MLflow): register a gated pair under an alias, pull it back by alias.

When training takes hours it does not run in CI: a training job registers
its model, and CI gates what the registry holds (`make model
MODEL=models:/churn@candidate`). Same gate, different provenance.

What goes in: the gated pair exactly as the gate wrote it (the skops file and
metrics.json, logged as plain run artifacts, not an `mlflow.pyfunc` model:
a pyfunc wrapper is a pickle, and the service loads skops only), the gate
record's key figures as run params and version tags. An ungated or failed
model is refused. Aliases (`candidate`, `production`) name versions;
MLflow's stages are deprecated.

The registry is local by default: a sqlite file and an artifact folder under
`.mlflow/`, no server. Point `REGISTRY_URI` at a team's tracking server to
use it instead. MLflow is an optional extra (requirements-registry.txt):
neither the service nor its image imports this module.

    python -m src.registry register [--model PATH] [--alias candidate]
    python -m src.registry pull models:/churn@candidate --to DIR

Exit codes: 0 done; 2 refused or input error (one line).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from src import artifacts, config, exits, signing
from src.record import ArtifactRecord

EXPERIMENT = "churn-gate"
ARTIFACT_PATH = "gated"  # the run folder holding the pair
_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[A-Za-z0-9_-]+)|/(?P<version>\d+))$")


class RegistrySettings(BaseSettings):
    """Where the registry lives and what the model is called in it."""

    model_config = SettingsConfigDict(env_prefix="REGISTRY_", env_ignore_empty=True, frozen=True, extra="ignore")

    dir: Path = Field(config.ROOT / ".mlflow", description="local registry: sqlite file and artifacts (gitignored)")
    uri: str | None = Field(None, description="a tracking server instead of the local sqlite file (e.g. https://…)")
    model_name: str = Field("churn", description="the registered model's name")
    alias: str = Field("candidate", description="the alias `make register` moves to the new version")

    @property
    def tracking_uri(self) -> str:
        return self.uri or f"sqlite:///{self.dir.resolve() / 'registry.db'}"


class RegistryError(ValueError):
    """A refused registration, an unknown URI or alias, or a missing extra; the message is one line."""


def _client(settings: RegistrySettings) -> Any:
    try:
        from mlflow import MlflowClient
    except ImportError as exc:
        raise RegistryError(
            f"the registry needs the MLflow extra ({exc.name} is missing): pip install -r requirements-registry.txt"
        ) from None
    if settings.uri is None:
        settings.dir.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def _experiment_id(client: Any, settings: RegistrySettings) -> str:
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is not None:
        return found.experiment_id
    # A local registry keeps its artifacts beside the sqlite file, never in ./mlruns of whatever the cwd is.
    location = None if settings.uri else (settings.dir.resolve() / "artifacts").as_uri()
    return client.create_experiment(EXPERIMENT, artifact_location=location)


def key_figures(rec: ArtifactRecord) -> dict[str, str]:
    """The gate record's figures a registry user filters and reads by (all of it is in the logged metrics.json)."""
    assert rec.gate is not None
    return {
        "gate.passed": str(rec.gate.passed).lower(),
        "gate.failed": ",".join(rec.gate.failed) or "-",
        "holdout_auc": f"{rec.holdout_auc}",
        "holdout_ece": f"{rec.holdout_ece}",
        "predict_p99_ms": f"{rec.predict_p99_ms}",
        "model_sha256": rec.model_sha256,
        "model_version": rec.model_version,
        "data_sha256": rec.data_sha256,
    }


def register(model_path: Path, settings: RegistrySettings) -> tuple[str, ArtifactRecord]:
    """Log the gated pair as a run, register it as a new version, move the alias to it; returns the version."""
    try:
        signing.verify_trusted(model_path)  # with TRUSTED_* set, an unsigned or edited pair never reaches the alias
        _, rec = artifacts.load_verified(model_path, require_gate=True)  # what the service would load
    except artifacts.ArtifactError as exc:
        raise RegistryError(f"refusing to register: {exc}") from None
    client = _client(settings)
    figures = key_figures(rec)
    run = client.create_run(_experiment_id(client, settings), tags=figures, run_name=f"gated-{rec.model_version}")
    run_id = run.info.run_id
    for name, value in {"seed": rec.seed, "n_train": rec.n_train, "n_holdout": rec.n_holdout}.items():
        client.log_param(run_id, name, value)
    client.log_param(run_id, "model_type", rec.model_type)
    client.log_artifact(run_id, str(model_path), ARTIFACT_PATH)
    client.log_artifact(run_id, str(artifacts.record_path_for(model_path)), ARTIFACT_PATH)
    if signing.signature_path(model_path).is_file():  # the signature travels with the pair it signs
        client.log_artifact(run_id, str(signing.signature_path(model_path)), ARTIFACT_PATH)
    client.set_terminated(run_id)
    if not client.search_registered_models(filter_string=f"name = '{settings.model_name}'"):
        client.create_registered_model(settings.model_name)
    version = client.create_model_version(
        settings.model_name, f"runs:/{run_id}/{ARTIFACT_PATH}", run_id=run_id, tags=figures
    )
    client.set_registered_model_alias(settings.model_name, settings.alias, version.version)
    return str(version.version), rec


def pull(uri: str, dest: Path, settings: RegistrySettings | None = None) -> Path:
    """Download the pair a `models:/NAME@ALIAS` (or `models:/NAME/VERSION`) URI names; returns its model file."""
    settings = settings or RegistrySettings()
    match = _URI.match(uri)
    if not match:
        raise RegistryError(f"{uri!r} is not a registry URI: use models:/NAME@ALIAS or models:/NAME/VERSION")
    client = _client(settings)
    from mlflow.exceptions import MlflowException

    try:
        if match["alias"]:
            version = client.get_model_version_by_alias(match["name"], match["alias"])
        else:
            version = client.get_model_version(match["name"], match["version"])
        folder = client.download_artifacts(version.run_id, ARTIFACT_PATH, str(dest))
    except MlflowException as exc:
        first = str(exc.message).splitlines()[0] if str(exc.message) else type(exc).__name__
        raise RegistryError(f"{uri} at {settings.tracking_uri}: {first}") from None
    model = Path(folder) / artifacts.MODEL_FILE
    if not model.is_file():
        raise RegistryError(f"{uri} holds no {artifacts.MODEL_FILE}: it was not registered by `make register`")
    try:  # the service's own loading boundary: what a pull hands on is a model the service would load
        artifacts.load_verified(model)
    except artifacts.ArtifactError as exc:
        raise RegistryError(f"{uri}: refusing the pulled pair: {exc}") from None
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.registry", description="Register or pull a gated model.")
    verbs = parser.add_subparsers(dest="verb", required=True)
    reg = verbs.add_parser("register", help="log and register the gated pair, and move the alias to it")
    reg.add_argument("--model", type=Path, default=None, help="gated model file (default: the artifact folder's)")
    reg.add_argument("--alias", default=None, help="alias to move (default: $REGISTRY_ALIAS or candidate)")
    get = verbs.add_parser("pull", help="download the pair a models:/ URI names")
    get.add_argument("uri", help="models:/NAME@ALIAS or models:/NAME/VERSION")
    get.add_argument("--to", type=Path, required=True, help="folder to download into")
    args = parser.parse_args(argv)
    settings = RegistrySettings()
    try:
        if args.verb == "register":
            if args.alias:
                settings = settings.model_copy(update={"alias": args.alias})
            model = args.model or config.settings().artifact_dir / artifacts.MODEL_FILE
            started = time.perf_counter()
            version, rec = register(model, settings)
            print(
                f"registered {settings.model_name} version {version} ({rec.model_version}, holdout AUC "
                f"{rec.holdout_auc}) as models:/{settings.model_name}@{settings.alias} "
                f"in {time.perf_counter() - started:.1f} s"
            )
        else:
            print(pull(args.uri, args.to, settings))
    except (RegistryError, OSError) as exc:
        return exits.refuse("registry", exc)
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
