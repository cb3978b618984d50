"""`make stack-up` / `stack-set` / `stack-status` / `stack-down`: the local stack from the shell.

    python -m deploy.stack up [--mode shadow|canary|stable] [--percent N]
    python -m deploy.stack set --mode canary --percent 25   # rewrite the stage files: no reload
    python -m deploy.stack status | down

Exit codes (src/exits.py): 0 done; 2 refused (a bad stage, a missing
artifact, a taken port, no stack running), said in one line.
"""

from __future__ import annotations

import argparse
import sys

import httpx

from deploy.control import promotion
from deploy.drivers.stack import Stack, effective_mode
from deploy.rules import stages
from deploy.settings import StackSettings
from src import exits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the stable/candidate/nginx stack on 127.0.0.1.")
    parser.add_argument("command", choices=["up", "set", "status", "down"])
    parser.add_argument("--mode", choices=stages.MODES)
    parser.add_argument("--percent", type=int)
    args = parser.parse_args(argv)
    cfg = StackSettings()
    if args.mode:
        cfg = cfg.model_copy(update={"mode": args.mode})
    if args.percent is not None:
        cfg = cfg.model_copy(update={"canary_percent": args.percent})
    try:
        if args.command == "up":
            Stack(cfg).up()
            print(f"stack up: nginx {cfg.url} ({effective_mode(cfg)}", end="")
            print(f", {cfg.canary_percent} % to candidate)" if effective_mode(cfg) == "canary" else ")")
            print(f"  stable    {cfg.service_url('stable')}  {cfg.stable_model}")
            print(f"  candidate {cfg.service_url('candidate')}  {cfg.candidate_model}")
            print(f"  prometheus {cfg.prometheus_url}  (scrapes both every 1 s)")
            print(f"  logs      {cfg.stack_dir}/   stop with: make stack-down")
        elif args.command == "set":
            stack = Stack.attach(cfg.stack_dir)
            if args.mode is None and args.percent is not None and stack.cfg.mode != "canary":
                raise ValueError(
                    f"CANARY_PERCENT={args.percent} applies to canary only and the stack is in {stack.cfg.mode}: "
                    f"run `make stack-set MODE=canary CANARY_PERCENT={args.percent}`"
                )
            stack.set_stage(args.mode or stack.cfg.mode, args.percent)
            mode = effective_mode(stack.cfg)
            print(f"nginx now in {mode}" + (f" ({stack.cfg.canary_percent} %)" if mode == "canary" else ""))
        elif args.command == "status":
            stack = Stack.attach(cfg.stack_dir)
            print(stack.status())
            if (cfg.stack_dir / promotion.INTENT).exists():
                print(
                    "an interrupted promotion is recorded: `python -m deploy.rollout --recover` finishes or undoes it"
                )
        else:
            try:
                stack = Stack.attach(cfg.stack_dir)
            except RuntimeError:
                print("no stack running")
                return exits.OK
            promotion.recover(stack)  # a promotion killed halfway: finish or undo it, so the baseline is right
            stack.down()
            print("stack down")
    except (ValueError, RuntimeError, TimeoutError, FileNotFoundError, httpx.TransportError) as exc:
        return exits.refuse("stack", exc)
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
