"""The file edits that faults and solutions are made of, anchored on code structure rather than text.

A code fault names a definition (a top-level function, or a top-level
assignment such as `CHECKS`) and one syntax node inside it, found with `ast`:
reformatting, renamed locals, new neighbouring lines or a second copy of a
line elsewhere in the file leave the anchor where it was. Every edit is
verified: the anchor must match exactly one node before, the file must still
parse after, and the node must be gone (the fault took effect). A lab whose
anchor no longer fits this tree fails loudly at `start`, naming the anchor,
instead of seeding a fault somewhere else.
"""

from __future__ import annotations

import ast
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

SNAPSHOT = "data/churn.csv"
RELEASE = "labs/release.json"  # how the candidate is deployed: its app and its extra environment


class EditError(Exception):
    """A lab's edit no longer applies to this tree; the message names the anchor."""


Match = Callable[[ast.AST], bool]


@dataclass(frozen=True)
class Anchor:
    """One syntax node inside one top-level definition of one file."""

    path: str
    definition: str  # a top-level def/class name, or a name bound by a top-level assignment
    node: str  # the node in words, for the teacher reading a failure
    match: Match

    def __str__(self) -> str:
        return f"{self.path}: {self.definition}: {self.node}"


# --- finding -------------------------------------------------------------------


def _binds(stmt: ast.stmt, name: str) -> bool:
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return stmt.name == name
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
    return any(isinstance(t, ast.Name) and t.id == name for t in targets)


def definition(tree: ast.Module, name: str) -> ast.stmt | None:
    """The top-level statement defining `name` (the last one, as Python would see it)."""
    found = [stmt for stmt in tree.body if _binds(stmt, name)]
    return found[-1] if found else None


def _parents(scope: ast.AST) -> None:
    for parent in ast.walk(scope):
        for child in ast.iter_child_nodes(parent):
            child.parent = parent  # type: ignore[attr-defined]


def locate(text: str, anchor: Anchor) -> ast.AST:
    """The one node `anchor` names in `text`; EditError naming the anchor otherwise."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise EditError(f"{anchor.path} does not parse ({exc.msg}, line {exc.lineno})") from None
    scope = definition(tree, anchor.definition)
    if scope is None:
        raise EditError(f"{anchor}: no top-level definition {anchor.definition!r} in {anchor.path}")
    _parents(scope)
    found = [node for node in ast.walk(scope) if anchor.match(node)]
    if len(found) != 1:
        raise EditError(f"{anchor}: expected exactly one such node, found {len(found)}")
    return found[0]


def _offsets(text: str, line: int, col: int) -> int:
    """The character offset of (1-based line, utf-8 byte column), as ast reports positions."""
    lines = text.splitlines(keepends=True)
    return sum(len(x) for x in lines[: line - 1]) + len(lines[line - 1].encode()[:col].decode())


def span(text: str, node: ast.AST) -> tuple[int, int]:
    return _offsets(text, node.lineno, node.col_offset), _offsets(text, node.end_lineno, node.end_col_offset)


# --- editing -------------------------------------------------------------------


def _write_verified(root: Path, anchor: Anchor, new: str) -> None:
    try:
        ast.parse(new)
    except SyntaxError as exc:
        raise EditError(f"{anchor}: the edited file would not parse ({exc.msg}, line {exc.lineno})") from None
    try:
        locate(new, anchor)
    except EditError:
        (root / anchor.path).write_text(new)
        return
    raise EditError(f"{anchor}: still present after the edit")


def replace_node(
    root: Path,
    anchor: Anchor,
    new: Callable[[str, ast.AST], str],
    part: Callable[[ast.AST], ast.AST] = lambda node: node,
    comment: str = "",
) -> None:
    """Replace the source of `part(node)` by `new(its source, node)`; `comment` goes on the line above the statement."""
    text = (root / anchor.path).read_text()
    node = locate(text, anchor)
    start, end = span(text, part(node))
    edited = text[:start] + new(text[start:end], node) + text[end:]
    if comment:
        stmt = node
        while not isinstance(stmt, ast.stmt):
            stmt = stmt.parent  # type: ignore[attr-defined]
        line_start = _offsets(edited, stmt.lineno, 0)
        indent = " " * stmt.col_offset
        edited = edited[:line_start] + f"{indent}# {comment}\n" + edited[line_start:]
    _write_verified(root, anchor, edited)


def delete_node(root: Path, anchor: Anchor, comment: str = "") -> None:
    """Delete a node that fills whole lines (a statement, or a tuple element with its comma)."""
    text = (root / anchor.path).read_text()
    node = locate(text, anchor)
    lines = text.splitlines(keepends=True)
    first, last = node.lineno - 1, node.end_lineno - 1
    before = lines[first].encode()[: node.col_offset].decode()
    after = lines[last].encode()[node.end_col_offset :].decode().strip()
    if before.strip() or after not in ("", ","):
        raise EditError(f"{anchor}: the node shares its lines with other code; cannot delete it whole")
    keep = [f"{before}# {comment}\n"] if comment else []
    _write_verified(root, anchor, "".join(lines[:first] + keep + lines[last + 1 :]))


def restore_definition(root: Path, base: str, path: str, name: str) -> None:
    """Put the top-level definition `name` of `path` back as it was at commit `base` (the rest of the file kept)."""
    old = show_blob(root, base, path)
    text = (root / path).read_text()
    was, now = definition(ast.parse(old), name), definition(ast.parse(text), name)
    if was is None or now is None:
        raise EditError(f"{path}: {name}: not a top-level definition at {base[:8]} and now")
    o_start = _offsets(old, _first_line(was), 0)
    o_end = _offsets(old, was.end_lineno, was.end_col_offset)
    n_start = _offsets(text, _first_line(now), 0)
    n_end = _offsets(text, now.end_lineno, now.end_col_offset)
    (root / path).write_text(text[:n_start] + old[o_start:o_end] + text[n_end:])


def _first_line(stmt: ast.stmt) -> int:
    decorators = getattr(stmt, "decorator_list", [])
    return min([stmt.lineno, *(d.lineno for d in decorators)])


# --- node predicates -----------------------------------------------------------


def calls(name: str) -> Match:
    """A call of the function `name` (a plain name or the last attribute: `np.where` is `where`)."""

    def match(node: ast.AST) -> bool:
        if not isinstance(node, ast.Call):
            return False
        func = node.func
        return (isinstance(func, ast.Name) and func.id == name) or (
            isinstance(func, ast.Attribute) and func.attr == name
        )

    return match


def keyword(node: ast.Call, name: str) -> object:
    """The literal value of keyword `name` in a call, or None."""
    for kw in node.keywords:
        if kw.arg == name and isinstance(kw.value, ast.Constant):
            return kw.value.value
    return None


def module_defines(root: Path, path: str, name: str) -> bool:
    """Does `path` bind `name` at top level (an assignment, a def or an import)?"""
    tree = ast.parse((root / path).read_text())
    for stmt in tree.body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            if any((alias.asname or alias.name.split(".")[0]) == name for alias in stmt.names):
                return True
        elif _binds(stmt, name):
            return True
    return False


# --- data and deployment -------------------------------------------------------


def edit_snapshot(root: Path, change: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    """Rewrite the committed snapshot as text, so untouched cells keep their exact bytes."""
    file = root / SNAPSHOT
    raw = pd.read_csv(file, dtype=str, keep_default_na=False)
    changed = change(raw)
    if changed.equals(raw):
        raise EditError(f"{SNAPSHOT}: the change leaves the snapshot as it was")
    changed.to_csv(file, index=False, lineterminator="\n")


def show_blob(root: Path, base: str, path: str) -> str:
    done = subprocess.run(["git", "show", f"{base}:{path}"], cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        raise EditError(f"{path}: not in commit {base[:8]}")
    return done.stdout


def restore(root: Path, base: str, path: str) -> None:
    """Put `path` back as it was at commit `base` (what a re-export or a revert does)."""
    blob = subprocess.run(["git", "show", f"{base}:{path}"], cwd=root, capture_output=True, check=True).stdout
    (root / path).write_bytes(blob)


def set_release(root: Path, **changes: object) -> None:
    file = root / RELEASE
    release = json.loads(file.read_text())
    if not set(changes) <= {"candidate_app", "candidate_env"}:
        raise EditError(f"{RELEASE}: unknown keys {sorted(set(changes) - {'candidate_app', 'candidate_env'})}")
    release.update(changes)
    file.write_text(json.dumps(release, indent=2, sort_keys=True) + "\n")
