"""The Kubernetes export, validated offline with the tools a cluster would trust.

Core objects go through kubernetes-validate --strict; Argo Rollouts, Flagger
and Gateway API objects through check-jsonschema against the projects' own CRD
schemas (deploy/k8s-schemas/, unknown fields closed); the PromQL through
promtool, on synthetic series for a healthy, a failing, an idle and a slow
canary. No cluster is needed, and none is mocked: these are the validators.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.observability import LATENCY_BUCKETS
from deploy.render import manifests as export
from deploy.rules import promql
from deploy.settings import RolloutSettings
from src import launcher
from src.config import ROOT

SCHEMAS = ROOT / "deploy" / "k8s-schemas"
CRD_SCHEMA = {
    "Rollout": "argoproj.io/rollout_v1alpha1.json",
    "AnalysisTemplate": "argoproj.io/analysistemplate_v1alpha1.json",
    "Canary": "flagger.app/canary_v1beta1.json",
    "MetricTemplate": "flagger.app/metrictemplate_v1beta1.json",
    "HTTPRoute": "gateway.networking.k8s.io/httproute_v1.json",
}
CORE = {"Service", "Deployment", "Job", "PodTemplate"}
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(BIN))
    assert found, f"{name} is missing: `make venv system-deps` installs it (promtool comes with Debian's prometheus)"
    return found


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module", params=sorted(export.TARGETS))
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """`python -m deploy.export` run for real, as a user would."""
    out = tmp_path_factory.mktemp(request.param)
    argv = [sys.executable, "-m", "deploy.export", "--target", request.param, "--out", str(out)]
    result = launcher.run(argv, timeout=120)
    assert result.returncode == 0, f"the export failed: {result.stderr}"
    return request.param, out


def _objects(out: Path) -> dict[Path, dict[str, Any]]:
    return {path: yaml.safe_load(path.read_text()) for path in sorted(out.glob("*.yaml"))}


def validate(objects: dict[Path, dict[str, Any]], workdir: Path) -> list[subprocess.CompletedProcess[str]]:
    """Each object through the right validator, embedded pod templates and Jobs as core objects too; the runs
    that failed. One run per CRD schema and one kubernetes-validate for every core object: each names the file
    that failed, and each interpreter start costs ~0.2 s of CPU."""
    by_schema: dict[str, list[str]] = {}
    core: list[str] = []
    for path, obj in objects.items():
        if obj["kind"] in CORE:
            core.append(str(path))
            continue
        by_schema.setdefault(CRD_SCHEMA[obj["kind"]], []).append(str(path))
        for i, inner in enumerate(_embedded_core(obj)):
            inner_path = workdir / f"{path.stem}-embedded{i}.yaml"
            inner_path.write_text(yaml.safe_dump(inner))
            core.append(str(inner_path))
    runs = [
        _run(_tool("check-jsonschema"), "--schemafile", str(SCHEMAS / schema), *paths)
        for schema, paths in sorted(by_schema.items())
    ]
    if core:
        runs.append(_run(_tool("kubernetes-validate"), "--strict", "--quiet", *core))
    return [run for run in runs if run.returncode != 0]


def _said(runs: list[subprocess.CompletedProcess[str]]) -> str:
    return "\n".join(run.stdout + run.stderr for run in runs)


def _embedded_core(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """A Rollout's pod template as a PodTemplate; an AnalysisTemplate's job specs as Jobs."""
    meta = {"name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"]}
    if obj["kind"] == "Rollout":
        return [{"apiVersion": "v1", "kind": "PodTemplate", "metadata": meta, "template": obj["spec"]["template"]}]
    if obj["kind"] == "AnalysisTemplate":
        jobs = [m["provider"]["job"]["spec"] for m in obj["spec"]["metrics"] if "job" in m["provider"]]
        return [{"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": job} for job in jobs]
    return []


def test_every_exported_object_passes_its_validator(exported: tuple[str, Path], tmp_path: Path) -> None:
    target, out = exported
    objects = _objects(out)
    kinds = {obj["kind"] for obj in objects.values()}
    expected = (
        {"Rollout", "AnalysisTemplate", "HTTPRoute", "Service"}
        if target == "argo"
        else {"Canary", "MetricTemplate", "Deployment", "Service"}
    )
    assert expected <= kinds, f"{target} export lacks {expected - kinds}"
    failed = validate(objects, tmp_path)
    assert not failed, f"the {target} export has objects their validators refuse:\n{_said(failed)}"


def test_a_typo_in_a_crd_field_fails_validation(exported: tuple[str, Path], tmp_path: Path) -> None:
    """The API server would prune an unknown field silently: the canary step would vanish, not fail."""
    target, out = exported
    name, typo = (
        ("rollout-churn-service.yaml", ("setWeight", "setWieght"))
        if target == "argo"
        else ("canary-churn-service.yaml", ("stepWeights", "stepWieghts"))
    )
    broken = tmp_path / name
    broken.write_text((out / name).read_text().replace(*typo))
    failed = validate({broken: yaml.safe_load(broken.read_text())}, tmp_path)
    assert failed, f"{typo[1]} passed validation: the vendored schema lost additionalProperties: false"
    assert typo[1] in _said(failed)


def test_a_typo_in_a_core_object_fails_validation(exported: tuple[str, Path], tmp_path: Path) -> None:
    path = next(p for p in sorted(exported[1].glob("service-*.yaml")))
    broken = tmp_path / path.name
    broken.write_text(path.read_text().replace("targetPort", "tagretPort"))
    failed = validate({broken: yaml.safe_load(broken.read_text())}, tmp_path)
    assert failed, "kubernetes-validate --strict accepted an unknown Service field"
    assert "tagretPort" in _said(failed)


def test_the_steps_are_rollout_configs_steps() -> None:
    cfg = RolloutSettings()
    s = export.ExportSettings()
    steps = export.argo(cfg, s)["rollout-churn-service.yaml"]["spec"]["strategy"]["canary"]["steps"]
    assert [x["setWeight"] for x in steps if "setWeight" in x] == list(cfg.steps) == [5, 25, 50, 100]
    canary = export.flagger(cfg, s)["canary-churn-service.yaml"]["spec"]["analysis"]
    assert canary["stepWeights"] == list(cfg.steps)


def test_the_image_build_context_carries_what_release_checks_imports(tmp_path: Path) -> None:
    """The Jobs and the webhook run `python -m deploy.release_checks` from the service image.

    .dockerignore admits deploy/ file by file; this rebuilds that context (src/, app/ and the admitted
    deploy/ files) and runs the module there, so a new import the image would lack fails here.
    """
    admitted = [
        line.removeprefix("!")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!deploy/")
    ]
    assert "deploy/release_checks.py" in admitted, ".dockerignore keeps deploy/release_checks.py out of the image"
    for folder in ("src", "app"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in admitted:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    result = subprocess.run(  # a fresh interpreter: only what the image's context holds may be importable
        [sys.executable, "-m", "deploy.release_checks", "--help"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"release_checks imports a module .dockerignore leaves out:\n{result.stderr}"


def test_changing_a_threshold_in_rollout_config_changes_the_manifests() -> None:
    """The export reads RolloutSettings; a copied number would not move."""
    s = export.ExportSettings()
    base = export.render("argo", RolloutSettings(), s) | export.render("flagger", RolloutSettings(), s)
    changes = (  # a setting, and the figure it puts in the export (None: it moves the structure, not a number)
        ({"min_success_rate": 0.95}, "0.95"),
        ({"tail_excess_min": 0.035}, "0.035"),
        ({"latency_alpha": 0.01}, str(promql.latency_z_max(RolloutSettings(latency_alpha=0.01)))),
        ({"p99_slack_ms": 10.0}, None),  # which edge each latency edge is compared with
        ({"min_requests": 250}, "250"),
        ({"steps": (10, 100)}, None),
    )
    for change, figure in changes:
        cfg = RolloutSettings().model_copy(update=change)
        moved = export.render("argo", cfg, s) | export.render("flagger", cfg, s)
        changed = sorted(name for name in base if base[name] != moved.get(name))
        assert changed, f"RolloutSettings {change} left every exported manifest unchanged"
        if figure is not None:
            assert any(figure in moved[name] for name in changed), f"{figure} from {change} is not in the export"


# -- PromQL ------------------------------------------------------------------
def _fill_templates(query: str) -> str:
    """Argo's {{args.x}} and Flagger's {{ x }} placeholders, filled the way the controllers would."""
    return re.sub(r"\{\{\s*(args\.)?([\w-]+)\s*\}\}", lambda m: "1m" if m.group(2) == "interval" else "x", query)


def _exported_queries(out: Path) -> list[str]:
    queries = []
    for obj in _objects(out).values():
        if obj["kind"] == "MetricTemplate":
            queries.append(obj["spec"]["query"])
        if obj["kind"] == "AnalysisTemplate":
            queries += [
                m["provider"]["prometheus"]["query"] for m in obj["spec"]["metrics"] if "prometheus" in m["provider"]
            ]
    return queries


def promtool_check(queries: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    rules = {
        "groups": [
            {"name": "q", "rules": [{"record": f"q:{i}", "expr": _fill_templates(q)} for i, q in enumerate(queries)]}
        ]
    }
    path = tmp_path / "queries.rules.yaml"
    path.write_text(yaml.safe_dump(rules, width=1000))
    return _run(_tool("promtool"), "check", "rules", str(path))


def test_the_exported_promql_parses(exported: tuple[str, Path], tmp_path: Path) -> None:
    target, out = exported
    queries = _exported_queries(out)
    assert len(queries) == len(promql.checks(RolloutSettings(), "1m", "10m")), f"{target}: a check is missing"
    result = promtool_check(queries, tmp_path)
    assert result.returncode == 0, f"promtool rejects the {target} queries:\n{result.stdout}{result.stderr}"
    rules = _run(_tool("promtool"), "check", "rules", str(out / "prometheus" / "churn-canary.rules.yaml"))
    assert rules.returncode == 0, rules.stdout + rules.stderr


def test_a_broken_promql_query_fails_the_check(exported: tuple[str, Path], tmp_path: Path) -> None:
    queries = _exported_queries(exported[1])
    broken = [queries[0].replace("histogram_quantile", "histogram_quantil").replace("sum(", "sum((", 1), *queries[1:]]
    result = promtool_check(broken, tmp_path)
    assert result.returncode != 0, "promtool accepted a query with an unbalanced parenthesis"


STEP_S = 15  # scrape interval of the synthetic series


SLOW_MS = 100.0  # the extra time of a canary's slow requests


def _series(
    variant: str, rps: float, latency_ms: float, error_share: float = 0.0, slow_share: float = 0.0
) -> list[dict[str, str]]:
    """Counters and cumulative latency buckets for one variant: latency_ms, slow_share of requests SLOW_MS more."""
    per_step = rps * STEP_S
    ok, errors = per_step * (1 - error_share), per_step * error_share
    labels = f'variant="{variant}",endpoint="/predict"'
    series = [{"series": f'churn_requests_total{{{labels},status="200"}}', "values": f"0+{ok}x40"}]
    if errors:
        series.append({"series": f'churn_requests_total{{{labels},status="500"}}', "values": f"0+{errors}x40"})
    for le in (*LATENCY_BUCKETS, float("inf")):
        count = per_step * (
            (1 - slow_share) * (le * 1000 >= latency_ms) + slow_share * (le * 1000 >= latency_ms + SLOW_MS)
        )
        name = "+Inf" if le == float("inf") else repr(le)
        series.append(
            {"series": f'churn_request_latency_seconds_bucket{{{labels},le="{name}"}}', "values": f"0+{count}x40"}
        )
    return series


CANARIES = {
    # name: (candidate requests/s, latency ms, error share, slow share), expected verdicts (None: no evidence)
    "healthy": ((5, 4.0, 0.0, 0.0), {"success_rate": 1, "latency_excess": 1}),
    "answering 500s": ((5, 4.0, 0.5, 0.0), {"success_rate": 0, "latency_excess": 1}),
    "idle": ((0.5, 4.0, 0.0, 0.0), {"success_rate": None, "latency_excess": None}),
    "slow on every request": ((5, 30.0, 0.0, 0.0), {"success_rate": 1, "latency_excess": 0}),
    "slow on 3 % of requests": ((5, 4.0, 0.0, 0.03), {"success_rate": 1, "latency_excess": 0}),
    # 4.5 of 300 requests: an excess past tail_excess_min, yet short of the bound (z 3.2 < 3.743)
    "slow on 1.5 % of requests": ((5, 4.0, 0.0, 0.015), {"success_rate": 1, "latency_excess": 1}),
    "within the allowance (+4 ms)": ((5, 8.0, 0.0, 0.0), {"success_rate": 1, "latency_excess": 1}),
}


def test_promtool_rule_tests_judge_healthy_failing_idle_and_slow_canaries(tmp_path: Path) -> None:
    """Stable at 20 req/s and 4 ms; each canary judged at 5 min over a 1 min window."""
    cfg = RolloutSettings()
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(promql.rules(cfg, "1m", "5m"), width=1000))
    tests = []
    for name, ((rps, latency, errors, slow), verdicts) in CANARIES.items():
        exprs = [
            {
                "expr": f"churn_canary:{check}:ok",
                "eval_time": "5m",
                "exp_samples": [] if v is None else [{"labels": f"churn_canary:{check}:ok", "value": v}],
            }
            for check, v in verdicts.items()
        ]
        series = _series("stable", 20, 4.0) + _series("candidate", rps, latency, errors, slow)
        tests.append({"name": name, "interval": f"{STEP_S}s", "input_series": series, "promql_expr_test": exprs})
    spec = {"rule_files": ["rules.yaml"], "evaluation_interval": "15s", "tests": tests}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(spec, width=1000))
    result = _run(_tool("promtool"), "test", "rules", str(tmp_path / "tests.yaml"))
    assert result.returncode == 0, (
        f"the PromQL checks judged a synthetic canary wrongly:\n{result.stdout}{result.stderr}"
    )


def test_the_checked_in_prometheus_config_is_valid() -> None:
    """prometheus/prometheus.yml: compose mounts it, `make stack-up` renders it."""
    result = _run(_tool("promtool"), "check", "config", str(ROOT / "prometheus" / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
