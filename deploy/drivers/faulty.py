"""A candidate with a fault injected, for drills: the real service wrapped, not a mock.

`uvicorn deploy.drivers.faulty:app` serves app.main exactly, except that
FAULT_DELAY_S adds latency to a FAULT_SLOW_SHARE of /predict requests (all by
default) and FAULT_ERROR_RATE turns that
share of /predict requests into HTTP 500s. The fault sits inside the service's
own middleware, so its headers, metrics and access log see the fault as they
would see a real one.
"""

from __future__ import annotations

import asyncio
import random

from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.main import create_app
from deploy.settings import FaultSettings


class Faulty:
    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner
        settings = FaultSettings()
        self.delay, self.slow_share, self.error_rate = settings.delay_s, settings.slow_share, settings.error_rate
        self.rng = random.Random(0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/predict"):
            if self.delay and self.rng.random() < self.slow_share:
                await asyncio.sleep(self.delay)
            if self.rng.random() < self.error_rate:
                await JSONResponse({"detail": "injected fault"}, status_code=500)(scope, receive, send)
                return
        await self.inner(scope, receive, send)


app = create_app()
app.user_middleware.append(Middleware(Faulty))  # innermost: inside the service's own Observe middleware
