"""Export the local rollout to Kubernetes: Argo Rollouts or Flagger, same thresholds, same PromQL.

    python -m deploy.export --target argo|flagger --out DIR

The manifests are rendered by deploy/render/manifests.py (docs/kubernetes.md
says how to apply them). Exit codes (src/exits.py): 0 written; 2 refused (a
bad setting or an unwritable folder), said in one line, nothing half-written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deploy.render.manifests import TARGETS, render
from deploy.settings import ExportSettings, RolloutSettings
from src import atomic, exits


def write(files: dict[str, str], out: Path) -> None:
    """Each file via src.atomic: a failed export never leaves a half-written manifest."""
    for name, text in files.items():
        atomic.write_text(out / name, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export the rollout to Argo Rollouts or Flagger manifests.")
    parser.add_argument("--target", choices=sorted(TARGETS), required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        cfg = RolloutSettings()
        cfg.check()
        files = render(args.target, cfg, ExportSettings())
        write(files, args.out)
    except (ValueError, OSError) as exc:  # a pydantic ValidationError is a ValueError
        print(f"export: {str(exc).splitlines()[0]}", file=sys.stderr)
        return exits.REFUSED
    print(f"export: {len(files)} files for {args.target} in {args.out}")
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
