"""Request and response models: the API's contract, enforced at the door.

Strict types and `extra="forbid"` turn every malformed request into a 422 that
names the field and the reason, before it can reach the model.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from src.features import CONTRACTS

Contract = Literal[CONTRACTS]  # the allowed values come from the feature code, not a copy


def _number_not_text(value: Any) -> Any:
    if isinstance(value, str | bool):
        raise ValueError("Input should be a valid integer, not text or a boolean")
    return value


class Customer(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "7590-VHVEG",
                    "tenure_months": 1,
                    "monthly_charges": 29.85,
                    "total_charges": 29.85,
                    "contract": "month-to-month",
                }
            ]
        },
    )

    customer_id: Annotated[str, Field(min_length=1, max_length=64)]
    # Lax for this one field so 12.0 counts as the JSON integer it is; text and booleans stay rejected.
    tenure_months: Annotated[
        int, Field(ge=0, le=600, strict=False, description="months as a customer"), BeforeValidator(_number_not_text)
    ]
    monthly_charges: Annotated[float, Field(gt=0, le=10_000)]
    total_charges: Annotated[float | None, Field(ge=0, le=10_000_000, description="blank for new customers")] = None
    contract: Contract


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    customers: Annotated[list[Customer], Field(min_length=1)]


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
