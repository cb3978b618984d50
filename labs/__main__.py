"""python -m labs list | start ID | check [--quick] [--json] | reset [--force] | solve | export ID DEST | matrix

Exit codes are src/exits.py's: a failure prints one readable line and exits
2 (REFUSED); `check` exits 0 (OK) only when the lab is solved (full points),
1 (NO) otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from labs import grade, handout, matrix, repo
from labs.catalog import BY_ID, LABS
from labs.edits import EditError
from src import exits

ROOT = Path.cwd()


def _list(args: argparse.Namespace) -> int:
    print(f"{'id':<28}{'caught by':<10}{'difficulty':<12}minutes")
    for lab in LABS:
        print(f"{lab.id:<28}{lab.surface:<10}{lab.difficulty:<12}{lab.minutes}")
    print(f"\n{len(LABS)} labs. Start one on a clean tree: python -m labs start ID  (make lab-start LAB=ID)")
    return exits.OK


def _start(args: argparse.Namespace) -> int:
    lab = BY_ID.get(args.id)
    if lab is None:
        raise repo.RepoError(f"no lab {args.id!r}; `python -m labs list` shows them")
    branch = handout.start(ROOT, lab)
    print(f"lab {lab.id} started on branch {branch} ({lab.difficulty}, ~{lab.minutes} min)\n")
    print(lab.brief)
    print("\nFind the cause, fix it, commit. `python -m labs check` grades the tree; `python -m labs reset` leaves.")
    return exits.OK


def _check(args: argparse.Namespace) -> int:
    report = grade.check(ROOT, quick=args.quick, use_cache=not args.no_cache)
    print(json.dumps(report.as_dict(), indent=2) if args.json else grade.render(report))
    return exits.OK if report.points == grade.MAX_POINTS else exits.NO


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
    return exits.OK


def _solve(args: argparse.Namespace) -> int:
    running = repo.running(ROOT)
    handout.solutions(ROOT, running.base).SOLUTIONS[running.lab_id](ROOT, running.base)
    print(f"reference solution of {running.lab_id} applied to the working tree (uncommitted; `git diff` shows it)")
    return exits.OK


def _matrix(args: argparse.Namespace) -> int:
    if args.write:
        matrix.write()
        print(f"wrote the matrix into {matrix.PAGE}")
    else:
        print(matrix.markdown())
    return exits.OK


def _export(args: argparse.Namespace) -> int:
    lab = BY_ID.get(args.id)
    if lab is None:
        raise repo.RepoError(f"no lab {args.id!r}; `python -m labs list` shows them")
    course = args.course or repo.git(ROOT, "remote", "get-url", "origin", check=False)
    if not course:
        raise repo.RepoError("no --course URL and no `origin` remote: name the repository the workflow fetches from")
    base = handout.export(ROOT, lab, args.dest, course)
    print(f"exported lab {lab.id} to {args.dest}: one commit, the seeded tree without labs/solutions/")
    print(f"  grades against: {base} (fetched by {handout.WORKFLOW} from {course}: push it there)")
    print(f"  autograding:    {handout.WORKFLOW} (python -m labs check; 100 points on exit 0)")
    print(f"  next:           push {args.dest} to a new repo, mark it a template, use it as the assignment's starter")
    return exits.OK


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
    ex = sub.add_parser("export", help="a lab as a standalone starter repository with its autograding workflow")
    ex.add_argument("id")
    ex.add_argument("dest", type=Path, help="a new folder")
    ex.add_argument("--course", help="where the workflow fetches the start commit (default: the origin remote)")
    ex.set_defaults(run=_export)
    mx = sub.add_parser("matrix", help="the fault -> surface -> message matrix (markdown)")
    mx.add_argument("--write", action="store_true", help="rewrite it into docs/lab.md")
    mx.set_defaults(run=_matrix)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (repo.RepoError, EditError, RuntimeError) as exc:
        return exits.refuse("labs", exc)


if __name__ == "__main__":
    sys.exit(main())
