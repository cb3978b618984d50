"""`make rollout`: shadow -> canary 5/25/50/100 -> promote, or roll back, on the local stack.

    python -m deploy.rollout --stable PATH --candidate PATH   (make rollout)
    python -m deploy.rollout --recover                        (finish or undo an interrupted promotion)

The controller is deploy/control/controller.py; what decides each window is
deploy/rules/window.py. Exit codes (src/exits.py): 0 promoted; 1 rolled back
(or held back by the ratchet); 2 refused: bad input, or a candidate that is
not a loadable, gated, trusted model its record describes, said in one line
before any process starts; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deploy.control import promotion
from deploy.control.candidate import CandidateRefused
from deploy.control.controller import run
from deploy.drivers.stack import Stack
from deploy.settings import RolloutSettings, StackSettings
from src import config, exits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Shadow -> canary -> promote, or roll back.")
    parser.add_argument("--stable", type=Path, help="stable artifact (default: $STABLE_MODEL)")
    parser.add_argument("--candidate", type=Path, help="gated candidate artifact (default: $CANDIDATE_MODEL)")
    parser.add_argument("--data", type=Path, default=None, help="snapshot whose customers are replayed")
    parser.add_argument("--report", type=Path, default=None, help="JSON report (default: STACK_DIR/rollout.json)")
    parser.add_argument("--skip-shadow", action="store_true", help="go straight to the canary steps")
    parser.add_argument("--traffic", choices=["replay", "none"], default=None)
    parser.add_argument("--recover", action="store_true", help="finish or undo an interrupted promotion, then stop")
    args = parser.parse_args(argv)
    stack_cfg = StackSettings()
    if args.stable:
        stack_cfg = stack_cfg.model_copy(update={"stable_model": args.stable})
    if args.candidate:
        stack_cfg = stack_cfg.model_copy(update={"candidate_model": args.candidate})
    cfg = RolloutSettings()
    if args.skip_shadow:
        cfg = cfg.model_copy(update={"skip_shadow": True})
    if args.traffic:
        cfg = cfg.model_copy(update={"traffic": args.traffic})
    promotion.SIGNALS.install()
    try:
        if (stack_cfg.stack_dir / "state.json").exists():  # a stack left running: finish what it left half done
            outcome = promotion.recover(Stack.attach(stack_cfg.stack_dir))
            if args.recover:
                print(outcome or "recover: no interrupted promotion")
                return exits.OK
            raise RuntimeError(f"a stack is already running from {stack_cfg.stack_dir}: `make stack-down` first")
        if args.recover:
            print("recover: no stack running, nothing to recover")
            return exits.OK
        return run(
            stack_cfg,
            cfg,
            config.settings().prod_metrics,
            args.report or stack_cfg.stack_dir / "rollout.json",
            args.data,
        )
    except CandidateRefused as exc:
        print(f"rollout refused: {exc}; nothing started", file=sys.stderr)
        return exits.REFUSED
    except (ValueError, RuntimeError, TimeoutError, FileNotFoundError, OSError) as exc:
        return exits.refuse("rollout", exc)
    except KeyboardInterrupt:
        print("rollout: stopped by a signal before the stack started", file=sys.stderr)
        return exits.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
