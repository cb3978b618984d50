"""python -m labs list | start ID | check [--quick] [--json] | reset [--force] | solve | matrix [--write]

A failure prints one readable line and exits 2; `check` exits 0 only when
the lab is solved (full points), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from labs import grade, matrix, repo
from labs.catalog import BY_ID, LABS
from labs.edits import EditError
from labs.solutions import SOLUTIONS

ROOT = Path.cwd()
EXIT_OK, EXIT_UNSOLVED, EXIT_INPUT = 0, 1, 2


def _list(args: argparse.Namespace) -> int:
    print(f"{'id':<28}{'caught by':<10}{'difficulty':<12}minutes")
    for lab in LABS:
        print(f"{lab.id:<28}{lab.surface:<10}{lab.difficulty:<12}{lab.minutes}")
    print(f"\n{len(LABS)} labs. Start one on a clean tree: python -m labs start ID  (make lab-start LAB=ID)")
    return EXIT_OK


def _start(args: argparse.Namespace) -> int:
    lab = BY_ID.get(args.id)
    if lab is None:
        raise repo.RepoError(f"no lab {args.id!r}; `python -m labs list` shows them")
    if repo.dirty(ROOT):
        raise repo.RepoError("the working tree has uncommitted changes: commit or stash them, then start the lab")
    branch = f"lab/{lab.id}"
    if repo.git(ROOT, "branch", "--list", branch):
        raise repo.RepoError(f"branch {branch} exists already: `python -m labs reset` or `git branch -D {branch}`")
    started_from = repo.current_branch(ROOT)
    repo.git(ROOT, "switch", "-q", "-c", branch)
    try:
        lab.seed(ROOT)
    except (EditError, OSError, ValueError, KeyError) as exc:
        repo.git(ROOT, "reset", "-q", "--hard")
        repo.git(ROOT, "switch", "-q", started_from)
        repo.git(ROOT, "branch", "-q", "-D", branch)
        raise repo.RepoError(f"lab {lab.id} does not apply to this tree: {exc}") from None
    repo.git(ROOT, "add", "-A")
    repo.git(ROOT, *repo.COMMIT_AS, "commit", "-q", "-m", f"lab: {lab.id}", "-m", f"started from: {started_from}")
    print(f"lab {lab.id} started on branch {branch} ({lab.difficulty}, ~{lab.minutes} min)\n")
    print(lab.brief)
    print("\nFind the cause, fix it, commit. `python -m labs check` grades the tree; `python -m labs reset` leaves.")
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    report = grade.check(ROOT, quick=args.quick, use_cache=not args.no_cache)
    print(json.dumps(report.as_dict(), indent=2) if args.json else grade.render(report))
    return EXIT_OK if report.points == grade.MAX_POINTS else EXIT_UNSOLVED


def _reset(args: argparse.Namespace) -> int:
    running = repo.running(ROOT)
    if repo.dirty(ROOT) and not args.force:
        raise repo.RepoError("uncommitted changes on the lab branch: commit them, or `reset --force` to drop them")
    branch = repo.current_branch(ROOT)
    back = running.started_from or running.base
    repo.git(ROOT, "switch", "-q", *(["-f"] if args.force else []), back)
    if branch.startswith("lab/"):
        repo.git(ROOT, "branch", "-q", "-D", branch)
    print(f"back on {back}; {branch} deleted")
    return EXIT_OK


def _solve(args: argparse.Namespace) -> int:
    running = repo.running(ROOT)
    SOLUTIONS[running.lab_id](ROOT, running.base)
    print(f"reference solution of {running.lab_id} applied to the working tree (uncommitted; `git diff` shows it)")
    return EXIT_OK


def _matrix(args: argparse.Namespace) -> int:
    if args.write:
        matrix.write()
        print(f"wrote the matrix into {matrix.PAGE}")
    else:
        print(matrix.markdown())
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m labs", description="Seeded faults, each caught by its own surface.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the labs: id, surface that catches it, difficulty, minutes").set_defaults(run=_list)
    start = sub.add_parser("start", help="seed a lab's fault on a new branch lab/ID and print its brief")
    start.add_argument("id")
    start.set_defaults(run=_start)
    chk = sub.add_parser("check", help="run the surfaces the lab needs and grade the tree")
    chk.add_argument("--quick", action="store_true", help="only the lab's own unit tests; a short rollout")
    chk.add_argument("--no-cache", action="store_true", help="rerun surfaces even on a tree checked before")
    chk.add_argument("--json", action="store_true", help="the report as JSON")
    chk.set_defaults(run=_check)
    reset = sub.add_parser("reset", help="back to the branch the lab started from; deletes lab/ID")
    reset.add_argument("--force", action="store_true", help="drop uncommitted changes")
    reset.set_defaults(run=_reset)
    sub.add_parser("solve", help=argparse.SUPPRESS).set_defaults(run=_solve)  # teachers: docs/lab.md
    mx = sub.add_parser("matrix", help="the fault -> surface -> message matrix (markdown)")
    mx.add_argument("--write", action="store_true", help="rewrite it into docs/lab.md")
    mx.set_defaults(run=_matrix)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (repo.RepoError, EditError, RuntimeError) as exc:
        print(f"labs: {exc}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
