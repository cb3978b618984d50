"""The framework's ceiling: FastAPI + uvicorn answering a constant, nothing else."""

from fastapi import FastAPI

app = FastAPI()


@app.post("/constant")
async def constant() -> dict[str, float]:
    return {"churn_probability": 0.5}
