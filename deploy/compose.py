"""`make compose-up` / `compose-set` / `compose-down`: compose.yaml's stack, checked before Docker acts.

    python -m deploy.compose up                           # make compose-up
    python -m deploy.compose set --mode canary --percent 25   # make compose-set
    python -m deploy.compose down                         # make compose-down

Exit codes (src/exits.py): 0 done; 2 refused (a stage nginx cannot serve, an
artifact folder without its gated pair), said in one line.
"""

from __future__ import annotations

import argparse
import sys

from deploy.drivers.compose import ComposeError, check, compose, published_url, set_stage, up
from deploy.settings import ComposeSettings
from src import exits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run compose.yaml's stable/candidate/nginx stack.")
    parser.add_argument("command", choices=["check", "up", "set", "down"])
    parser.add_argument("--mode", help="stable | shadow | canary (set)")
    parser.add_argument("--percent", help="canary percent 0..100; 0 is the stable stage (set)")
    parser.add_argument("--no-build", action="store_true", help="run CHURN_IMAGE as it is (up)")
    args = parser.parse_args(argv)
    settings = ComposeSettings()
    try:
        if args.command == "check":
            print(f"compose: ready to serve the {check(settings)} stage")
        elif args.command == "up":
            stage = up(settings, build=not args.no_build)
            print(f"compose up: nginx {published_url()} in the {stage} stage; change it with make compose-set")
        elif args.command == "set":
            stage, number = set_stage(args.mode or settings.nginx_mode, args.percent or settings.canary_percent)
            print(f"nginx now in {stage}" + (f" ({number} %)" if stage == "canary" else ""))
        else:
            compose("down", "--volumes")
    except (ValueError, ComposeError) as exc:
        return exits.refuse("compose", exc)
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
