"""The data contract is declared once, and everything that depends on it follows it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.schemas import Customer
from src import schema
from src.config import ROOT
from tools import config_doc

README = ROOT / "README.md"
SCHEMA_BLOCK = re.compile(r"<!-- schema:begin -->\n(.*?)\n<!-- schema:end -->", re.DOTALL)
CONTRACT_HOMES = 3  # the contract, the feature code and the generator may name a column; nothing else in src/app/deploy


def test_the_readme_schema_table_is_the_contract() -> None:
    match = SCHEMA_BLOCK.search(README.read_text())
    assert match, "README lost its <!-- schema:begin --> ... <!-- schema:end --> block"
    assert match.group(1) == schema.markdown_table(), (
        "the README's schema table differs from src/schema.py: paste schema.markdown_table() between the markers"
    )


def test_the_configuration_page_is_generated_from_the_settings_classes() -> None:
    assert config_doc.PAGE.read_text() == config_doc.render(), (
        "docs/configuration.md is stale: a settings field was added, renamed or redescribed; run `make config-doc`"
    )


def test_the_request_model_has_exactly_the_contract_inputs() -> None:
    assert list(Customer.model_fields) == [c.name for c in schema.INPUTS], (
        "the API's request fields drifted from src/schema.py"
    )


@pytest.mark.parametrize("column", [c for c in schema.INPUTS if c.maximum is not None], ids=lambda c: c.name)
def test_the_api_enforces_each_declared_maximum(small_artifact: Path, column: schema.Column) -> None:
    from app.main import create_app
    from app.settings import ServiceSettings
    from src import artifacts

    body = {**schema.EXAMPLE_CUSTOMER, column.name: column.maximum + 1}
    with TestClient(create_app(ServiceSettings(model_path=small_artifact / artifacts.MODEL_FILE))) as client:
        response = client.post("/predict", json=body)
    assert response.status_code == 422, f"{column.name} above its contract maximum was accepted: {response.text}"
    assert response.json()["detail"][0]["loc"][-1] == column.name


@pytest.mark.parametrize("column", [c.name for c in schema.INPUTS if c.numeric], ids=str)
def test_each_input_is_named_in_at_most_three_modules(column: str) -> None:
    homes = sorted(
        str(path.relative_to(ROOT))
        for folder in ("src", "app", "deploy")
        for path in (ROOT / folder).rglob("*.py")
        if re.search(rf"\b{column}\b", path.read_text())
    )
    assert len(homes) <= CONTRACT_HOMES, (
        f"{column} is named in {homes}: derive it from src/schema.py instead of repeating the contract"
    )


def test_parse_reports_problems_by_column_and_keeps_every_row() -> None:
    import pandas as pd

    raw = pd.DataFrame({"tenure_months": ["3", "twelve", "4.5", None], "churned": ["Yes", "0", "1", "0"]})
    typed, problems = schema.parse(raw)
    assert len(typed) == 4, "a parse problem must not drop rows"
    assert set(problems) == {"tenure_months", "churned"}
    assert "2 value(s) not an integer" in problems["tenure_months"], problems
    assert typed["tenure_months"].isna().tolist() == [False, True, True, True]
