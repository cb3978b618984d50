"""The HTTP contract beyond bodies: HEAD /health, the declared headers and error bodies, a client hanging up."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.middleware import response_headers
from app.schemas import Problem
from app.settings import ServiceSettings
from src import artifacts, schema
from tools import asgi


@pytest.fixture(scope="module")
def client(small_artifact: Path) -> Iterator[TestClient]:
    settings = ServiceSettings(model_path=small_artifact / artifacts.MODEL_FILE, max_body_bytes=4096)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_head_on_health_answers_like_get_without_a_body(client: TestClient) -> None:
    got, head = client.get("/health"), client.head("/health")
    assert head.status_code == 200, f"HEAD /health answered {head.status_code} (RFC 9110: HEAD wherever GET is)"
    assert head.content == b""
    for name in response_headers():
        assert head.headers.get(name), f"HEAD /health lacks {name}"
    assert head.headers["x-model-version"] == got.headers["x-model-version"]
    allow = client.options("/health").headers.get("allow", "")
    assert {"GET", "HEAD"} <= {m.strip() for m in allow.split(",")}, f"a 405 on /health offers only {allow!r}"


def test_every_documented_response_declares_the_headers_every_response_carries(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    declared = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                headers = answer.get("headers", {})
                missing = set(response_headers()) - set(headers)
                assert not missing, f"{method.upper()} {path} {status} does not declare {sorted(missing)}"
                declared += 1
    assert declared >= 2 * len(document["paths"]), "fewer documented responses than expected: is the walk empty?"
    answer = client.post("/predict", json=schema.EXAMPLE_CUSTOMER)
    for name, spec in response_headers().items():
        assert answer.headers.get(name), f"/predict lacks the declared {name}"
        if "enum" in spec["schema"]:
            assert answer.headers[name] in spec["schema"]["enum"]


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
def test_the_400_and_413_bodies_are_declared_and_are_what_the_service_sends(client: TestClient, path: str) -> None:
    responses = client.get("/openapi.json").json()["paths"][path]["post"]["responses"]
    for status in ("400", "413"):
        ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/Problem"), f"{path} {status} body is declared as {ref}"
    too_large = client.post(path, content=b"x" * 5000, headers={"Content-Type": "application/json"})
    not_text = client.post(path, content=b"\xff\xfe{", headers={"Content-Type": "application/json"})
    assert (too_large.status_code, not_text.status_code) == (413, 400)
    for answer in (too_large, not_text):
        assert Problem.model_validate(answer.json()).detail, answer.text


def test_a_client_hanging_up_mid_body_is_a_499_never_a_500(client: TestClient, capsys: pytest.CaptureFixture) -> None:
    """The ASGI app itself, fed half a body and then `http.disconnect`, as the ASGI server does when a socket closes."""
    app = client.app
    body = json.dumps(schema.EXAMPLE_CUSTOMER).encode()
    half_then_hang_up = [
        {"type": "http.request", "body": body[: len(body) // 2], "more_body": True},
        {"type": "http.disconnect"},
    ]
    capsys.readouterr()
    sent = asyncio.run(asgi.call(app, asgi.post_scope("/predict", len(body)), half_then_hang_up))
    out = capsys.readouterr()
    access = [json.loads(x) for x in out.out.splitlines() if '"event":"access"' in x]
    assert [a["status"] for a in access] == [499], f"expected one access line with 499:\n{out.out}"
    assert not any(m.get("status", 0) >= 500 for m in sent), f"a 5xx was sent: {sent}"
    assert "Traceback" not in out.out + out.err
    metrics = client.get("/metrics").text
    assert 'churn_requests_total{endpoint="/predict",status="499",variant="stable"} 1.0' in metrics
    assert 'status="500",variant="stable"} 0.0' in metrics, "a disconnect must not count as a server error"
