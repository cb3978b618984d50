"""Which stage a MODE and CANARY_PERCENT ask for: the one judge for the local stack, compose and /stage.

Pure: nginx/render-stage.sh applies the same rules inside the container, and a
unit test holds the two to the same verdicts.
"""

from __future__ import annotations

import re

MODES = ("stable", "shadow", "canary")
_PERCENT = re.compile(r"[0-9]+")


def stage(mode: str, percent: int | str) -> tuple[str, int]:
    """Validate a requested stage; returns (the stage nginx should serve, the canary percent).

    The one judge of MODE and CANARY_PERCENT for the local stack and for compose
    (nginx/render-stage.sh applies the same rules inside the container, and a
    unit test holds the two to the same verdicts). A canary at 0 % is the stable
    stage, the rollback state.
    """
    if mode not in MODES:
        raise ValueError(f"MODE must be one of {', '.join(MODES)}, not {mode!r}")
    if not _PERCENT.fullmatch(str(percent)) or int(percent) > 100:
        raise ValueError(f"CANARY_PERCENT must be a whole number 0..100, not {str(percent)!r}")
    number = int(percent)
    return ("stable" if mode == "canary" and number == 0 else mode), number


def stage_report(mode: str, percent: int) -> str:
    """What /stage answers: the stage and, in canary, the candidate's share (as render-stage.sh writes it)."""
    served, number = stage(mode, percent)
    if served == "canary":
        return f'{{"mode":"canary","candidate_percent":{number}}}'
    return f'{{"mode":"{served}"}}'
