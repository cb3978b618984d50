"""The prediction API in-process: same numbers as offline, and every bad input is a clear 4xx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.schemas import CUSTOMER_MAX_KEYS
from app.settings import ServiceSettings
from app.validation import MAX_ERRORS
from src import artifacts, data, record, schema
from src.features import build_features
from src.scoring import fast_churn_probability
from src.train import split

VALID = schema.EXAMPLE_CUSTOMER


@pytest.fixture(scope="module")
def settings(small_artifact: Path) -> ServiceSettings:
    return ServiceSettings(
        model_path=small_artifact / artifacts.MODEL_FILE, max_batch_size=50, max_body_bytes=64 * 1024
    )


@pytest.fixture(scope="module")
def client(settings: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def holdout(small_artifact: Path) -> tuple[pd.DataFrame, Any]:
    df = data.load(small_artifact / "snapshot.csv")
    X, y = build_features(df)
    _, X_hold, _, _ = split(X, y)
    model, _ = artifacts.load_verified(small_artifact / artifacts.MODEL_FILE)
    return df.loc[X_hold.index], model


@pytest.fixture(scope="module")
def offline_single(holdout) -> list[float]:
    """The offline model's answer for each holdout row scored alone, as a one-row request is."""
    rows, model = holdout
    X, _ = build_features(rows)
    return [float(model.predict_proba(X.iloc[[i]])[0, 1]) for i in range(len(X))]


async def _post_each(app: Any, path: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One request per body through the app itself (started by the client fixture): no thread hop per call."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return [(await http.post(path, json=body)).raise_for_status().json() for body in bodies]


def _payload(row: pd.Series) -> dict[str, Any]:
    return schema.request_body(row)


def test_service_and_offline_model_agree_exactly_on_every_holdout_row(
    client: TestClient, holdout, offline_single: list[float]
) -> None:
    rows, model = holdout
    served_single = asyncio.run(_post_each(client.app, "/predict", [_payload(r) for _, r in rows.iterrows()]))
    served_single = [answer["churn_probability"] for answer in served_single]
    assert served_single == offline_single, "train/serve skew: /predict differs from the offline model"

    # Compared chunk for chunk: sklearn's own result for a row can differ in the last bit with the batch's size.
    offline_batch, served_batch = [], []
    for start in range(0, len(rows), 50):
        chunk = rows.iloc[start : start + 50]
        offline_batch += model.predict_proba(build_features(chunk)[0])[:, 1].tolist()
        body = {"customers": [_payload(r) for _, r in chunk.iterrows()]}
        served_batch += [p["churn_probability"] for p in client.post("/predict/batch", json=body).json()["predictions"]]
    assert served_batch == offline_batch, "train/serve skew: /predict/batch differs from the offline model"


def test_numpy_fast_path_is_bit_identical_to_sklearn(holdout, offline_single: list[float]) -> None:
    rows, model = holdout
    X, _ = build_features(rows)
    fast = fast_churn_probability(model)
    assert fast is not None, "the shipped pipeline should get the fast path"
    np.testing.assert_array_equal(fast(X.to_numpy()), model.predict_proba(X)[:, 1])
    matrix = X.to_numpy()
    for i, expected in enumerate(offline_single):
        assert fast(matrix[i : i + 1])[0] == expected, f"row {i} differs"


def test_prediction_carries_decision_version_and_variant(client: TestClient, settings: ServiceSettings) -> None:
    response = client.post("/predict", json=VALID, headers={"X-Request-ID": "req-123"})
    assert response.status_code == 200, response.text
    body = response.json()
    version = record.read(settings.metrics_path).model_version
    assert body["model_version"] == version
    assert body["variant"] == "stable"
    assert body["threshold"] == 0.5
    assert body["prediction"] == int(body["churn_probability"] >= 0.5)
    assert response.headers["X-Model-Variant"] == "stable"
    assert response.headers["X-Model-Version"] == version
    assert response.headers["X-Request-ID"] == "req-123", "the caller's request id must come back for log joins"


def test_decision_threshold_is_configuration(small_artifact: Path) -> None:
    with TestClient(
        create_app(ServiceSettings(model_path=small_artifact / artifacts.MODEL_FILE, decision_threshold=0.01))
    ) as c:
        body = c.post("/predict", json=VALID).json()
    assert body["threshold"] == 0.01
    assert body["prediction"] == 1, "a 1 % threshold flags every customer with p > 0.01"


def test_one_json_log_line_per_prediction_with_the_request_id(client: TestClient, capsys) -> None:
    capsys.readouterr()
    client.post("/predict", json=VALID, headers={"X-Request-ID": "log-me"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    predictions = [line for line in lines if line["event"] == "prediction"]
    access = [line for line in lines if line["event"] == "access"]
    assert len(predictions) == 1, lines
    assert predictions[0]["request_id"] == "log-me"
    assert {"variant", "model_version", "churn_probability", "latency_ms", "contract"} <= predictions[0].keys()
    assert access[0]["request_id"] == "log-me", "the access log must carry the request id"
    assert access[0]["status"] == 200


def test_health_names_the_loaded_model(client: TestClient, settings: ServiceSettings) -> None:
    body = client.get("/health").json()
    rec = record.read(settings.metrics_path)
    assert body["model_version"] == rec.model_version
    assert body["holdout_auc"] == rec.holdout_auc
    assert body["variant"] == "stable"


def test_prometheus_metrics_count_requests_and_score_distribution(client: TestClient) -> None:
    client.post("/predict", json=VALID)
    client.post("/predict", json={**VALID, "contract": "weekly"})
    text = client.get("/metrics").text
    assert 'churn_requests_total{endpoint="/predict",status="200",variant="stable"}' in text
    assert 'churn_requests_total{endpoint="/predict",status="422",variant="stable"}' in text
    assert 'churn_predicted_probability_bucket{le="0.05",variant="stable"}' in text
    assert "churn_request_latency_seconds_bucket" in text


BAD_CUSTOMERS = [
    ("unknown-contract", {**VALID, "contract": "weekly"}, "contract", schema.BY_NAME["contract"].allowed[0]),
    ("negative-tenure", {**VALID, "tenure_months": -1}, "tenure_months", "greater than or equal to 0"),
    ("zero-charges", {**VALID, "monthly_charges": 0}, "monthly_charges", "greater than 0"),
    ("negative-charges", {**VALID, "monthly_charges": -5.0}, "monthly_charges", "greater than 0"),
    ("string-number", {**VALID, "monthly_charges": "29.85"}, "monthly_charges", "valid number"),
    ("boolean-number", {**VALID, "tenure_months": True}, "tenure_months", "valid integer"),
    ("missing-field", {k: v for k, v in VALID.items() if k != "contract"}, "contract", "Field required"),
    ("misspelled-field", {**VALID, "tenure_month": 3}, "tenure_month", "Extra inputs"),
    ("float-tenure", {**VALID, "tenure_months": 1.5}, "tenure_months", "valid integer"),
]


@pytest.mark.parametrize(
    ("payload", "field", "reason"), [c[1:] for c in BAD_CUSTOMERS], ids=[c[0] for c in BAD_CUSTOMERS]
)
def test_bad_customer_gets_422_naming_field_and_reason(
    client: TestClient, payload: dict, field: str, reason: str
) -> None:
    response = client.post("/predict", json=payload)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(e["loc"][-1] == field and reason in e["msg"] for e in errors), f"no error names {field!r}: {errors}"
    assert client.get("/health").status_code == 200, "the server must keep serving after bad input"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ('{"customer_id":"a","tenure_months":1,"monthly_charges":NaN,"contract":"one-year"}', "finite number"),
        ('{"customer_id":"a","tenure_months":1,"monthly_charges":Infinity,"contract":"one-year"}', "finite number"),
        ('{"customer_id":"a","tenure_months":1,"monthly_charges":1e309,"contract":"one-year"}', "finite number"),
        ("", "Field required"),
        ("this is not json", "Invalid JSON"),
        ("[1, 2, 3]", "Input should be an object"),
        ('{"customer_id":"\\ud800","tenure_months":1,"monthly_charges":2.0,"contract":"one-year"}', "Invalid JSON"),
        ('{"\\ud800":1}', "Invalid JSON"),
        ('{"customer_id":"a","tenure_months":1,"monthly_charges":2.0,"contract":"one-year","\\udfff":1}', "Invalid"),
        ("[" * 490 + "]" * 490, "recursion limit"),
        ('{"a":' * 970 + "1" + "}" * 970, "recursion limit"),
        ("[" * 60_000, "recursion limit"),
        ('{"customer_id":"a","monthly_charges":2.0,"contract":"one-year","tenure_months":' + "9" * 5000 + "}", "range"),
        ('{"customer_id":"a","monthly_charges":2.0,"contract":"one-year","tenure_months":' + "9" * 4200 + "}", "600"),
        ('{"customer_id":' + '"x",' * 40 + '"y"}', "Invalid JSON"),
        ("{" + ",".join(f'"k{i}":0' for i in range(5_000)) + "}", f"at most {CUSTOMER_MAX_KEYS} keys"),
    ],
    ids=[
        "nan",
        "infinity",
        "1e309",
        "empty-body",
        "not-json",
        "array-not-object",
        "lone-surrogate-in-a-valid-customer-id",
        "lone-surrogate-as-a-key",
        "lone-surrogate-in-an-extra-key",
        "nested-490",
        "nested-970",
        "nested-60k-unclosed",
        "5000-digit-integer",
        "4200-digit-integer",
        "broken-object",
        "5000-unknown-keys",
    ],
)
def test_malformed_body_gets_422_not_500(client: TestClient, raw: str, reason: str) -> None:
    response = client.post("/predict", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert reason in json.dumps(response.json()), response.text
    assert len(response.content) < 8_000, f"a 422 must not echo the request back ({len(response.content)} bytes)"
    assert client.get("/health").status_code == 200


def test_a_body_that_is_not_utf8_gets_400(client: TestClient) -> None:
    for raw in (b'{"customer_id":"\xff"}', b'"\xed\xa0\x80"'):  # a stray byte; a surrogate encoded as UTF-8
        response = client.post("/predict", content=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, response.text
        assert "UTF-8" in response.json()["detail"]


def test_a_body_that_is_not_declared_json_gets_422_naming_the_content_type(client: TestClient) -> None:
    response = client.post("/predict", content=json.dumps(VALID), headers={"Content-Type": "text/plain"})
    assert response.status_code == 422, response.text
    assert "Content-Type: application/json" in response.json()["detail"][0]["msg"]
    ok = client.post("/predict", content=json.dumps(VALID), headers={"Content-Type": "application/json; charset=utf-8"})
    assert ok.status_code == 200, ok.text


def test_a_422_lists_at_most_20_errors_and_counts_the_rest(client: TestClient) -> None:
    response = client.post("/predict/batch", json={"customers": [{"customer_id": [0] * 400}] * 50})
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert len(errors) == MAX_ERRORS + 1, f"{MAX_ERRORS} errors and one summary expected, got {len(errors)}"
    assert errors[-1]["type"] == "too_many_errors", errors[-1]
    # each customer: its id of the wrong type, and every required field of the contract missing
    per_customer = 1 + sum(1 for c in schema.INPUTS if c.kind != "id" and not c.nullable)
    assert f"{50 * per_customer - MAX_ERRORS} more" in errors[-1]["msg"], errors[-1]
    assert errors[0]["loc"] == ["body", "customers", 0, "customer_id"], errors[0]
    assert errors[0]["input"] == "<list of 400>", "a container is named, never echoed"
    assert {"type", "loc", "msg", "input"} <= errors[0].keys(), "FastAPI's 422 format"


def test_a_422_echoes_a_long_string_truncated(client: TestClient) -> None:
    response = client.post("/predict", json={**VALID, "contract": "w" * 50_000})
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "contract"]
    assert error["input"].startswith("www"), error
    assert len(error["input"]) <= 130, f"echoed {len(error['input'])} characters"


def test_a_batch_over_the_limit_is_refused_before_its_rows_are_validated(client: TestClient) -> None:
    """59 KiB of `{}` rows stalled every client 3-6 s: 80,000 errors built, encoded and echoed back."""
    rows = 20_000
    body = '{"customers":[' + ",".join(["{}"] * rows) + "]}"
    assert len(body) < 64 * 1024, "the body must pass MAX_BODY_BYTES for this test to reach validation"
    response = client.post("/predict/batch", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text[:300]
    assert response.json()["detail"] == f"batch of {rows} customers exceeds the limit of 50"


def test_empty_batch_is_rejected(client: TestClient) -> None:
    response = client.post("/predict/batch", json={"customers": []})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "customers"]


def test_oversized_batch_names_the_limit(client: TestClient) -> None:
    response = client.post("/predict/batch", json={"customers": [VALID] * 51})
    assert response.status_code == 413
    assert "limit of 50" in response.json()["detail"]


def test_body_over_the_size_limit_is_refused_before_parsing(client: TestClient) -> None:
    big = json.dumps({"customers": [{**VALID, "customer_id": "x" * 60}] * 1000})
    response = client.post("/predict/batch", content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "MAX_BODY_BYTES" in response.json()["detail"]

    def chunks() -> Iterator[bytes]:
        yield big.encode()

    streamed = client.post("/predict/batch", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413, "a chunked body without Content-Length must hit the same limit"
    assert client.get("/health").status_code == 200


@pytest.fixture(scope="module")
def default_client(small_artifact: Path) -> Iterator[TestClient]:
    """The service with its default limits: MAX_BODY_BYTES 1 MiB, MAX_BATCH_SIZE 1000."""
    with TestClient(create_app(ServiceSettings(model_path=small_artifact / artifacts.MODEL_FILE))) as test_client:
        yield test_client


def test_a_1mib_batch_of_empty_rows_gets_413_not_a_176_second_422(default_client: TestClient) -> None:
    body = '{"customers":[' + ",".join(["{}"] * 349_518) + "]}"
    assert len(body) <= 1_048_576, "the body must pass MAX_BODY_BYTES for this test to reach validation"
    response = default_client.post("/predict/batch", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text[:300]
    assert "exceeds the limit of 1000" in response.json()["detail"]


def test_json_nested_100k_levels_gets_422_not_a_recursion_error(default_client: TestClient) -> None:
    for raw in ("[" * 100_000 + "]" * 100_000, '{"customers":' + "[" * 100_000):
        response = default_client.post("/predict/batch", content=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, response.text[:300]
        assert "recursion limit" in response.json()["detail"][0]["msg"]
