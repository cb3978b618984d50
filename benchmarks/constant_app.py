"""The framework's ceilings: FastAPI + uvicorn answering a constant, with no body and with a validated one.

`/constant/validated` takes the `Customer` body the FastAPI way (a model parameter) and returns a
constant: what any endpoint that reads a customer pays before doing any work. /predict is measured
against it (benchmarks.service).
"""

from fastapi import FastAPI

from app.main import NO_OTEL
from app.schemas import Customer

app = FastAPI(telemetry=NO_OTEL)  # configured as the service is: the comparison is endpoint against endpoint


@app.post("/constant")
async def constant() -> dict[str, float]:
    return {"churn_probability": 0.5}


@app.post("/constant/validated")
async def constant_validated(customer: Customer) -> dict[str, float]:  # type: ignore[valid-type]
    return {"churn_probability": 0.5}
