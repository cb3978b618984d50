"""The local rollout as Kubernetes manifests: Argo Rollouts or Flagger, same thresholds, same PromQL.

`python -m deploy.export` writes them. Renders from `RolloutSettings` (the very thresholds `make rollout` applies),
the service settings (app.settings) and `deploy.rules.promql` (the checks, written
once). One object per file, so each file validates on its own
(kubernetes-validate for core kinds, check-jsonschema against the vendored CRD
schemas in deploy/k8s-schemas/); `DIR/prometheus/` holds the checks as a
Prometheus rules file for promtool and dashboards. docs/kubernetes.md says how
to apply it and where the two controllers behave differently.

A step-by-step map of the local rollout onto each engine:

    local (deploy/control)       Argo Rollouts                 Flagger
    gate record + ratchet        Job metrics (release_checks)  pre-rollout webhooks (release_checks serve)
    shadow: score PSI            Job metric                    pre-rollout webhook
    canary steps 5/25/50/100     setWeight + analysis step     analysis.stepWeights
    success, latency vs stable   AnalysisTemplate (PromQL)     MetricTemplates (PromQL)
    nginx split_clients          HTTPRoute weights (plugin)    HTTPRoute Flagger generates
"""

from __future__ import annotations

from typing import Any

import yaml

from app.settings import ServiceSettings
from deploy.rules import promql
from deploy.settings import ExportSettings, RolloutSettings
from src.signing import TrustSettings

ARGO_API = "argoproj.io/v1alpha1"
FLAGGER_API = "flagger.app/v1beta1"
GATEWAY_API = "gateway.networking.k8s.io/v1"
CONTAINER_PORT = 8000  # the Dockerfile's uvicorn port


def _meta(name: str, s: ExportSettings, **labels: str) -> dict[str, Any]:
    return {"name": name, "namespace": s.namespace, "labels": {"app.kubernetes.io/name": s.name, **labels}}


def _service_env() -> list[dict[str, str]]:
    """The service's own settings as pod env; the artifact paths stay the image's."""
    settings = ServiceSettings()
    skip = {"model_path", "model_metrics", "model_version", "model_variant"}
    env = [
        {"name": k.upper(), "value": str(v).lower() if isinstance(v, bool) else str(v)}
        for k, v in settings.model_dump().items()
        if k not in skip
    ]
    trust = TrustSettings()
    if trust.trusted_identity:  # every pod verifies the keyless signature before loading (a key file needs a mount)
        env += [{"name": "TRUSTED_IDENTITY", "value": trust.trusted_identity}]
        env += [{"name": "TRUSTED_OIDC_ISSUER", "value": trust.trusted_oidc_issuer}]
    # Every pod is told it is "stable": on a cluster the controllers tell revisions apart by pod, not by env.
    return [{"name": "MODEL_VARIANT", "value": "stable"}, *env]


def pod_template(s: ExportSettings, app: str) -> dict[str, Any]:
    """The service's pod: the image with the gated artifact baked in, probes on /health."""
    probe = {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 5, "timeoutSeconds": 2}
    return {
        "metadata": {
            "labels": {"app": app},
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(CONTAINER_PORT)},
        },
        "spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
            "containers": [
                {
                    "name": "churn-service",
                    "image": s.image,
                    "ports": [{"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
                    "env": _service_env(),
                    "readinessProbe": probe,
                    "livenessProbe": {**probe, "failureThreshold": 3},
                    "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
                    "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False},
                }
            ],
        },
    }


def service(name: str, s: ExportSettings, app: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, s),
        "spec": {
            "selector": {"app": app},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _checks_cmd(check: str, cfg: RolloutSettings, s: ExportSettings, stable: str, candidate: str) -> list[str]:
    """The release_checks command line for one check, with RolloutSettings's thresholds."""
    cmd = ["python", "-m", "deploy.release_checks", check, "--stable", stable, "--candidate", candidate]
    if check == "ratchet":
        cmd += ["--tolerance", str(cfg.regression_tolerance)]
    if check == "shadow":
        cmd += ["--psi-max", str(cfg.shadow_psi_max), "--customers", str(s.shadow_customers)]
    return cmd


# -- Argo Rollouts -----------------------------------------------------------
ARGO_SELECTORS = promql.Selectors(
    candidate='namespace="{{args.namespace}}",rollouts_pod_template_hash="{{args.canary-hash}}"',
    stable='namespace="{{args.namespace}}",rollouts_pod_template_hash="{{args.stable-hash}}"',
)


def argo(cfg: RolloutSettings, s: ExportSettings) -> dict[str, dict[str, Any]]:
    stable_svc, canary_svc = f"{s.name}-stable", f"{s.name}-canary"
    url = f"http://{{}}.{s.namespace}.svc"
    hashes = [
        {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
        {"name": "stable-hash", "valueFrom": {"podTemplateHashValue": "Stable"}},
        {"name": "namespace", "value": s.namespace},
    ]
    canary_analysis = {"analysis": {"templates": [{"templateName": f"{s.name}-canary"}], "args": hashes}}
    steps: list[dict[str, Any]] = [{"analysis": {"templates": [{"templateName": f"{s.name}-release-checks"}]}}]
    for weight in cfg.steps:
        steps += [{"setWeight": weight}, canary_analysis]
    steps.append({"analysis": {"templates": [{"templateName": f"{s.name}-ratchet"}]}})
    rollout = {
        "apiVersion": ARGO_API,
        "kind": "Rollout",
        "metadata": _meta(s.name, s),
        "spec": {
            "replicas": s.replicas,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": {"app": s.name}},
            "template": pod_template(s, s.name),
            "strategy": {
                "canary": {
                    "stableService": stable_svc,
                    "canaryService": canary_svc,
                    "trafficRouting": {
                        "plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": s.name, "namespace": s.namespace}}
                    },
                    "steps": steps,
                }
            },
        },
    }
    return {
        f"service-{stable_svc}.yaml": service(stable_svc, s, s.name),
        f"service-{canary_svc}.yaml": service(canary_svc, s, s.name),
        f"httproute-{s.name}.yaml": httproute(s, [(stable_svc, 100), (canary_svc, 0)]),
        f"rollout-{s.name}.yaml": rollout,
        f"analysistemplate-{s.name}-canary.yaml": argo_canary_template(cfg, s),
        f"analysistemplate-{s.name}-release-checks.yaml": argo_job_template(
            f"{s.name}-release-checks",
            cfg,
            s,
            ["gate-record", "shadow"],
            url.format(stable_svc),
            url.format(canary_svc),
        ),
        f"analysistemplate-{s.name}-ratchet.yaml": argo_job_template(
            f"{s.name}-ratchet", cfg, s, ["ratchet"], url.format(stable_svc), url.format(canary_svc)
        ),
    }


def argo_canary_template(cfg: RolloutSettings, s: ExportSettings) -> dict[str, Any]:
    """The PromQL checks; an empty result matches neither condition: inconclusive, and Argo pauses."""
    metrics = []
    for check in promql.checks(cfg, s.window, s.reference_window, ARGO_SELECTORS):
        op, bound, neg = (">=", check.min, "<") if check.min is not None else ("<=", check.max, ">")
        metrics.append(
            {
                "name": check.name,
                "initialDelay": s.window,  # the first measurement covers a whole window at the new weight
                "interval": s.window,
                "count": 1,
                "successCondition": f"len(result) > 0 && result[0] {op} {bound}",
                "failureCondition": f"len(result) > 0 && result[0] {neg} {bound}",
                "failureLimit": 0,
                "provider": {"prometheus": {"address": s.prometheus, "query": check.query}},
            }
        )
    return {
        "apiVersion": ARGO_API,
        "kind": "AnalysisTemplate",
        "metadata": _meta(f"{s.name}-canary", s),
        "spec": {"args": [{"name": a} for a in ("canary-hash", "stable-hash", "namespace")], "metrics": metrics},
    }


def argo_job_template(
    name: str, cfg: RolloutSettings, s: ExportSettings, checks: list[str], stable: str, candidate: str
) -> dict[str, Any]:
    """Checks PromQL cannot express run as Jobs from the service image: exit 0 passes."""
    metrics = []
    for check in checks:
        container = {
            "name": check,
            "image": s.image,
            "command": _checks_cmd(check, cfg, s, stable, candidate),
            "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False},
        }
        job = {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [container]}}}
        metrics.append({"name": check, "failureLimit": 0, "provider": {"job": {"spec": job}}})
    return {
        "apiVersion": ARGO_API,
        "kind": "AnalysisTemplate",
        "metadata": _meta(name, s),
        "spec": {"metrics": metrics},
    }


def httproute(s: ExportSettings, backends: list[tuple[str, int]]) -> dict[str, Any]:
    """Weighted routing through the Gateway API (ingress-nginx is retired; both controllers speak this)."""
    return {
        "apiVersion": GATEWAY_API,
        "kind": "HTTPRoute",
        "metadata": _meta(s.name, s),
        "spec": {
            "parentRefs": [{"name": s.gateway, "namespace": s.gateway_namespace}],
            "hostnames": [s.hostname],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": n, "port": 80, "weight": w} for n, w in backends],
                }
            ],
        },
    }


# -- Flagger -------------------------------------------------------------------
FLAGGER_SELECTORS = promql.Selectors(
    candidate='namespace="{{ namespace }}",pod=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"',
    stable='namespace="{{ namespace }}",pod=~"{{ target }}-primary-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"',
)


def flagger(cfg: RolloutSettings, s: ExportSettings) -> dict[str, dict[str, Any]]:
    checks_name = f"{s.name}-release-checks"
    primary, canary = (f"http://{s.name}-{x}.{s.namespace}.svc" for x in ("primary", "canary"))
    checks_url = f"http://{checks_name}.{s.namespace}.svc"
    templates, metrics = {}, []
    for check in promql.checks(cfg, "{{ interval }}", s.reference_window, FLAGGER_SELECTORS):
        templates[f"metrictemplate-{s.name}-{check.name}.yaml"] = {
            "apiVersion": FLAGGER_API,
            "kind": "MetricTemplate",
            "metadata": _meta(f"{s.name}-{check.name}", s),
            "spec": {"provider": {"type": "prometheus", "address": s.prometheus}, "query": check.query},
        }
        bound = {"min": check.min} if check.min is not None else {"max": check.max}
        metrics.append(
            {
                "name": check.name,
                "templateRef": {"name": f"{s.name}-{check.name}", "namespace": s.namespace},
                "thresholdRange": bound,
                "interval": s.window,
            }
        )
    webhooks = [
        {"name": check, "type": "pre-rollout", "url": f"{checks_url}/{check}", "timeout": "60s"}
        for check in ("gate-record", "shadow", "ratchet")
    ]
    webhooks.append(
        {
            "name": "ratchet-before-promotion",
            "type": "confirm-promotion",
            "url": f"{checks_url}/ratchet",
            "timeout": "60s",
        }
    )
    canary_obj = {
        "apiVersion": FLAGGER_API,
        "kind": "Canary",
        "metadata": _meta(s.name, s),
        "spec": {
            "provider": "gatewayapi:v1",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": s.name},
            "progressDeadlineSeconds": 600,
            "service": {
                "port": 80,
                "targetPort": CONTAINER_PORT,
                "hosts": [s.hostname],
                "gatewayRefs": [{"name": s.gateway, "namespace": s.gateway_namespace}],
            },
            "analysis": {
                "interval": s.window,
                "threshold": 1,  # the local controller rolls back on the first failed window
                "stepWeights": list(cfg.steps),
                "metrics": metrics,
                "webhooks": webhooks,
            },
        },
    }
    checks_pod = pod_template(s, checks_name)
    container = checks_pod["spec"]["containers"][0]
    container.update(
        name="release-checks",
        command=[
            *_checks_cmd("serve", cfg, s, primary, canary),
            "--tolerance",
            str(cfg.regression_tolerance),
            "--psi-max",
            str(cfg.shadow_psi_max),
            "--customers",
            str(s.shadow_customers),
        ],
        env=[{"name": "RELEASE_CHECKS_HOST", "value": "0.0.0.0"}],  # in-pod; the local default is 127.0.0.1
    )
    for probe in ("readinessProbe", "livenessProbe"):
        container[probe]["httpGet"]["path"] = "/healthz"
    return {
        f"deployment-{s.name}.yaml": deployment(s.name, s, pod_template(s, s.name), s.replicas),
        f"deployment-{checks_name}.yaml": deployment(checks_name, s, checks_pod, 1),
        f"service-{checks_name}.yaml": service(checks_name, s, checks_name),
        f"canary-{s.name}.yaml": canary_obj,
        **templates,
    }


def deployment(name: str, s: ExportSettings, template: dict[str, Any], replicas: int) -> dict[str, Any]:
    app = template["metadata"]["labels"]["app"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, s),
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}}, "template": template},
    }


TARGETS = {"argo": argo, "flagger": flagger}


def render(target: str, cfg: RolloutSettings, s: ExportSettings) -> dict[str, str]:
    """{relative path: YAML text}: the manifests plus prometheus/churn-canary.rules.yaml."""
    build = TARGETS[target]
    window = s.window
    files = {name: yaml.safe_dump(obj, sort_keys=False, width=1000) for name, obj in build(cfg, s).items()}
    rules = promql.rules(cfg, window, s.reference_window, promql.LOCAL)
    header = "# The canary checks as recorded series, labelled by MODEL_VARIANT as on one machine.\n"
    files["prometheus/churn-canary.rules.yaml"] = header + yaml.safe_dump(rules, sort_keys=False, width=1000)
    return files
