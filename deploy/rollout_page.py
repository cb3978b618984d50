"""Redraw a rollout's page from its record: `python -m deploy.rollout_page STACK_DIR/rollout.json`.

Exit codes (src/exits.py): 0 drawn; 1 not drawn (said in one line, the record
stands); 2 no readable record at that path.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from deploy.render.page import write_beside
from src import exits


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m deploy.rollout_page STACK_DIR/rollout.json", file=sys.stderr)
        return exits.REFUSED
    path = Path(args[0])
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return exits.refuse("rollout_page", f"{path}: {exc}")
    line = write_beside(report, path)
    print(line)
    return exits.NO if line.startswith("page: not drawn") else exits.OK


if __name__ == "__main__":
    sys.exit(main())
