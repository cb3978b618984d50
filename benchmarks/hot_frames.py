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

from tools import asgi

CALLS = 3000
# The --checkout child: this checkout's benchmarks and tools first (imported, so cached), then the
# import path turned to the other checkout, whose app/ and src/ the profile imports afterwards.
CHILD = (
    "import sys; sys.path.insert(0, sys.argv[1]); from benchmarks import hot_frames; "
    "sys.path[0] = sys.argv[2]; hot_frames.profile(sys.argv[3:])"
)


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
                await asgi.post(app, "/predict", body)
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(calls):
                await asgi.post(app, "/predict", body)
            profiler.disable()
    _print(pstats.Stats(profiler), calls, top)


def _print(stats: pstats.Stats, calls: int, top: int) -> None:
    rows = stats.stats  # type: ignore[attr-defined]
    total = sum(own for _, _, own, _, _ in rows.values())
    ranked = sorted(rows.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    print(f"one /predict under cProfile: {total / calls * 1e6:.0f} us of own time in all frames ({calls:,} requests)")
    print("    share   us/req  frame")
    for (path, line, name), (_, _, own, _, _) in ranked:
        where = f"{'/'.join(Path(path).parts[-2:])}:{line}" if line else path
        print(f"    {own / total:5.1%}  {own / calls * 1e6:7.1f}  {name} ({where})")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hot_frames", description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, help="profile the app of this checkout instead")
    parser.add_argument("--baseline", metavar="REF", help="after this checkout, profile REF's app the same way")
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--label", default="this checkout", help=argparse.SUPPRESS)
    return parser


def profile(argv: list[str]) -> None:
    """Profile the app on the import path and print its hot frames (the --checkout child's whole job)."""
    args = _parser().parse_args(argv)
    print(f"{args.label}:", flush=True)
    asyncio.run(_profile(args.calls, args.top))


def _in_checkout(other: Path, calls: int, top: int, label: str) -> int:
    """`profile` in a child whose app/ and src/ are `other`'s; the child's exit code."""
    here = Path(__file__).resolve().parents[1]
    model = Path(os.environ.get("MODEL_PATH") or here / "model_candidate.skops")
    env = {**os.environ, "MODEL_PATH": str(model)}
    env.pop("PYTHONPATH", None)  # the child sets its own path: this checkout's tools, then `other`
    argv = [sys.executable, "-c", CHILD, str(here), str(other.resolve())]
    return subprocess.run(
        [*argv, "--calls", str(calls), "--top", str(top), "--label", label], cwd=other, env=env
    ).returncode


def main(argv: list[str] | None = None) -> int:
    # src is imported here, never at the top: the --checkout child imports this module before its path
    # points at the other checkout, and a `src` cached then would be this checkout's.
    from benchmarks.baseline import checkout
    from src import exits

    args = _parser().parse_args(argv)
    if args.checkout:
        label = args.label if args.label != "this checkout" else str(args.checkout)
        return _in_checkout(args.checkout, args.calls, args.top, label)
    profile(sys.argv[1:] if argv is None else argv)
    if not args.baseline:
        return exits.OK
    with tempfile.TemporaryDirectory() as tmp, checkout(args.baseline, Path(tmp)) as tree:
        print(flush=True)
        return _in_checkout(tree, args.calls, args.top, args.baseline)


if __name__ == "__main__":
    sys.exit(main())
