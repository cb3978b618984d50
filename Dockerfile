# The image ships the exact artifact the gate passed: CI downloads the
# `gated-model` artifact (model_candidate.skops + metrics.json) into the build
# context; nothing here trains. Build locally after `make run`:
#   docker build --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg HOLDOUT_AUC=$(python -c 'import json;print(json.load(open("metrics.json"))["holdout_auc"])') \
#     -t churn-service:dev .
FROM python:3.11.14-slim-bookworm

# XDG_*: sigstore keeps its trust root (TUF) under them, and only /tmp is writable (read-only root).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MODEL_PATH=/app/model_candidate.skops \
    MODEL_VARIANT=stable \
    XDG_CACHE_HOME=/tmp/.cache \
    XDG_DATA_HOME=/tmp/.local/share

WORKDIR /app
RUN groupadd --system --gid 10001 churn \
    && useradd --system --uid 10001 --gid churn --no-create-home --shell /usr/sbin/nologin churn

# Dependencies first: this layer is reused until requirements.txt changes.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY src/ src/
COPY app/ app/
# deploy/ for the cluster's release checks (python -m deploy.release_checks): Job and webhook, same image
COPY deploy/ deploy/
# The pair under the names the gate (and its signature, model.sig, when CI signed it) gave them:
# a signature lists files by name, so a renamed model would no longer verify. The [g] glob makes
# the signature optional (a local build after `make run` has none) while the pair stays required.
COPY model_candidate.skops metrics.json model.si[g] /app/

USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]

# Last, so a new revision reuses every layer above.
ARG REVISION=unknown
ARG HOLDOUT_AUC=unknown
LABEL org.opencontainers.image.title="churn-service" \
      org.opencontainers.image.description="Customer-churn predictor serving the gated model artifact" \
      org.opencontainers.image.revision="${REVISION}" \
      io.churn-service.holdout-auc="${HOLDOUT_AUC}"

# uvicorn is exposed directly here: app.server bounds request heads (httptools has no limit of its own).
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000", "--no-access-log", "--http", "app.server:BoundedHttpToolsProtocol"]
