"""The service's prediction log, written without a service: lines exactly as app/observability logs them.

The drift check, its page and the drift workflow read this log; their tests
and benchmarks.pages write one from snapshot rows, with the junk a real log
holds (access lines, other events, a line cut off mid-write) interleaved.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from src import schema

JUNK_LINES = [
    'INFO:     127.0.0.1:51234 - "POST /predict HTTP/1.1" 200 OK',
    '{"event": "startup", "model_version": "5725b3c78e5e", "variant": "stable"}',
    '{"event": "prediction", "tenure_months": 3',  # a line cut off mid-write
    "Traceback (most recent call last):",
    "[1, 2, 3]",
    "",
]
JUNK_EVERY = 7  # one junk line before every 7th prediction


def prediction_line(row: pd.Series, request_id: str, variant: str = "stable") -> str:
    """One line exactly as the service logs a prediction (null total for new customers)."""
    return json.dumps(
        {
            "event": "prediction",
            "ts": "2026-11-23T02:10:00.123Z",
            "request_id": request_id,
            "variant": variant,
            "model_version": "5725b3c78e5e",
            **schema.request_body(row),
            "churn_probability": 0.4123,
            "prediction": 0,
            "latency_ms": 0.8,
        }
    )


def write_log(path: Path, customers: pd.DataFrame) -> Path:
    """A JSON-lines log of `customers`' predictions with a junk line before every JUNK_EVERY-th."""
    lines: list[str] = []
    for i, (_, row) in enumerate(customers.iterrows()):
        if i % JUNK_EVERY == 0:
            lines.append(JUNK_LINES[(i // JUNK_EVERY) % len(JUNK_LINES)])
        lines.append(prediction_line(row, request_id=f"req-{i}"))
    path.write_text("\n".join(lines) + "\n")
    return path
