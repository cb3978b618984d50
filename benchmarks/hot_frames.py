"""Where one /predict spends its time: the top frames by own time, cProfile over in-process requests.

    python -m benchmarks.hot_frames                      # this checkout
    python -m benchmarks.hot_frames --baseline REF       # ... then a git ref's app, from a temporary worktree
    python -m benchmarks.hot_frames --checkout DIR       # another checkout's app

Each request goes through the whole ASGI app (middleware, routing,
validation, features, model, logging, metrics), with the prediction log
written to /dev/null; uvicorn's HTTP parsing is not in it. cProfile adds its
own cost to every call, so read the shares, not the absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
from pathlib import Path

CALLS = 3000


async def _profile(calls: int, top: int) -> None:
    # Imported here: with --checkout these come from the other checkout (PYTHONPATH), not this one.
    import app.observability as observability
    from app.main import create_app
    from app.settings import ServiceSettings
    from src import artifacts, config, schema

    settings = ServiceSettings(model_path=Path(os.environ.get("MODEL_PATH") or config.ROOT / artifacts.MODEL_FILE))
    app = create_app(settings)
    body = json.dumps(schema.EXAMPLE_CUSTOMER).encode()
    async with app.router.lifespan_context(app):
        with open(os.devnull, "w") as sink:
            observability.configure_logging(sink)
            for _ in range(300):
                await post_predict(app, body)
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(calls):
                await post_predict(app, body)
            profiler.disable()
    _print(pstats.Stats(profiler), calls, top)


async def post_predict(app, body: bytes) -> None:
    """One POST /predict straight into the ASGI app: no socket, no HTTP parsing (benchmarks.service uses it too)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/predict",
        "raw_path": b"/predict",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        return None

    await app(scope, receive, send)


def _print(stats: pstats.Stats, calls: int, top: int) -> None:
    rows = stats.stats  # type: ignore[attr-defined]
    total = sum(own for _, _, own, _, _ in rows.values())
    ranked = sorted(rows.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    print(f"one /predict under cProfile: {total / calls * 1e6:.0f} us of own time in all frames ({calls:,} requests)")
    print("    share   us/req  frame")
    for (path, line, name), (_, _, own, _, _) in ranked:
        where = f"{'/'.join(Path(path).parts[-2:])}:{line}" if line else path
        print(f"    {own / total:5.1%}  {own / calls * 1e6:7.1f}  {name} ({where})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hot_frames", description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, help="profile the app of this checkout instead")
    parser.add_argument("--baseline", metavar="REF", help="after this checkout, profile REF's app the same way")
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--label", default="this checkout", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.checkout:
        here = Path(__file__).resolve()
        model = Path(os.environ.get("MODEL_PATH") or here.parents[1] / "model_candidate.skops")
        env = {**os.environ, "PYTHONPATH": str(args.checkout.resolve()), "MODEL_PATH": str(model)}
        label = ["--label", args.label] if args.label != "this checkout" else ["--label", str(args.checkout)]
        argv = [sys.executable, str(here), "--calls", str(args.calls), "--top", str(args.top), *label]
        return subprocess.run(argv, cwd=args.checkout, env=env).returncode
    print(f"{args.label}:", flush=True)
    asyncio.run(_profile(args.calls, args.top))
    if not args.baseline:
        return 0
    from benchmarks.service import checkout  # here, not at the top: the --checkout child must not import it

    with tempfile.TemporaryDirectory() as tmp, checkout(args.baseline, Path(tmp)) as tree:
        print(flush=True)
        argv = ["--checkout", str(tree), "--calls", str(args.calls), "--top", str(args.top), "--label", args.baseline]
        return main(argv)


if __name__ == "__main__":
    sys.exit(main())
