"""Request and response models: the API's contract, enforced at the door.

The request model is built from the data contract (`src/schema.py`): one
field per input column, with its type, bounds and allowed values, so the
API cannot drift from what training reads. Strict types and
`extra="forbid"` turn every malformed request into a 422 that names the
field and the reason, before it can reach the model.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from src import schema


def _number_not_text(value: Any) -> Any:
    if isinstance(value, str | bool):
        raise ValueError("Input should be a valid integer, not text or a boolean")
    return value


def _field(column: schema.Column) -> tuple[Any, Any]:
    """(annotation, default) of one request field, from its contract column."""
    bounds = {"ge": column.minimum, "gt": column.above, "le": column.maximum}
    constraints = {k: v for k, v in bounds.items() if v is not None}
    info = Field(description=column.why, **constraints)
    if column.kind == "id":
        annotation: Any = Annotated[str, Field(min_length=1, max_length=column.max_length, description=column.why)]
    elif column.kind == "integer":
        # Lax for integers so 12.0 counts as the JSON integer it is; text and booleans stay rejected.
        annotation = Annotated[int, Field(strict=False), info, BeforeValidator(_number_not_text)]
    elif column.kind == "number":
        annotation = Annotated[float, info]
    else:
        annotation = Annotated[Literal[column.allowed], Field(description=column.why)]
    if column.nullable:
        return annotation | None, None
    return annotation, ...


Customer: type[BaseModel] = create_model(
    "Customer",
    __config__=ConfigDict(
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
        json_schema_extra={"examples": [schema.EXAMPLE_CUSTOMER]},
    ),
    **{column.name: _field(column) for column in schema.INPUTS},
)


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    customers: Annotated[list[Customer], Field(min_length=1)]  # type: ignore[valid-type]


class Prediction(BaseModel):
    customer_id: str
    churn_probability: float
    prediction: Literal[0, 1]
    threshold: float
    model_version: str
    variant: Literal["stable", "candidate"]


class BatchPrediction(BaseModel):
    predictions: list[Prediction]


class Health(BaseModel):
    status: Literal["ok"]
    variant: Literal["stable", "candidate"]
    model_version: str
    model_sha256: str
    holdout_auc: float | None
