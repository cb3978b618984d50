"""Request and response models: the API's contract, enforced at the door.

The request model is built from the data contract (`src/schema.py`): one
field per input column, with its type, bounds and allowed values, so the
API cannot drift from what training reads. Strict types and
`extra="forbid"` turn every malformed request into a 422 that names the
field and the reason, before it can reach the model.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model, model_validator
from pydantic_core import PydanticCustomError

from src import schema

MIN_KEY_LIMIT = 8
CUSTOMER_MAX_KEYS = max(MIN_KEY_LIMIT, 2 * len(schema.INPUTS))  # room for every field twice over, never 100,000


def at_most_keys(limit: int) -> Any:
    """A before-validator refusing an object with more than `limit` keys, with one error.

    `extra="forbid"` reports every unknown key on its own, so a 1 MiB object
    of keys costs an error each; refused here it costs one error
    (docs/benchmarks.md, "app/schemas.py").
    """

    def check(cls: type[BaseModel], data: Any) -> Any:
        if isinstance(data, dict) and len(data) > limit:
            raise PydanticCustomError(
                "too_many_keys",
                "Object should have at most {limit} keys, not {count}",
                {"limit": limit, "count": len(data)},
            )
        return data

    return model_validator(mode="before")(classmethod(check))  # type: ignore[arg-type]


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
    __validators__={"_at_most_keys": at_most_keys(CUSTOMER_MAX_KEYS)},
    **{column.name: _field(column) for column in schema.INPUTS},
)


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    customers: Annotated[list[Customer], Field(min_length=1)]  # type: ignore[valid-type]

    _at_most_keys = at_most_keys(MIN_KEY_LIMIT)


def bounded_batch(max_batch_size: int) -> type[Batch]:
    """Batch with MAX_BATCH_SIZE enforced by pydantic-core, which stops at the first customer past the limit.

    A 1 MiB body of `{}` rows is refused with one `too_long` error before any
    row is validated (docs/benchmarks.md, "app/schemas.py").
    """
    return create_model(
        "Batch",
        __base__=Batch,
        customers=(Annotated[list[Customer], Field(min_length=1, max_length=max_batch_size)], ...),  # type: ignore[valid-type]
    )


class FieldError(BaseModel):
    """One entry of a 422, FastAPI's format; `input` is echoed only as a short scalar."""

    type: str
    loc: list[str | int]
    msg: str
    input: Any = None
    ctx: dict[str, Any] = Field(default_factory=dict)


class ValidationProblem(BaseModel):
    detail: list[FieldError]


class Problem(BaseModel):
    """The body of a 400 or 413: one sentence saying what was refused and which limit applies."""

    detail: str


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
