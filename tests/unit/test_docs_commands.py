"""Docs that cannot rot: every command the README and docs/ name must exist.

A page that says `make stack-sett` or `python -m src.gates` sends a new user
into an error on their first try, and nothing else in the test tree reads the
docs. These tests read the commands out of code spans and fenced blocks (prose
may say "make the gate a gate") and check each against the Makefile's targets
and the importable modules, and check that every relative link points at a
file that exists. Reading the files costs milliseconds; nothing is run.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
SPAN = re.compile(r"`([^`\n]+)`")
MAKE = re.compile(r"(?:^|[\s;&|(])make((?:[ \t]+[^\s;&|)`]+)+)", re.M)  # one line: the next may be a command
MODULE = re.compile(r"python3?\s+-m\s+([A-Za-z_][\w.]*)")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
NAME = re.compile(r"[a-z][a-z0-9_-]*")
TARGET = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)\s*:(?!=)", re.M)


def _code(text: str) -> list[str]:
    """The text of every fenced block and inline code span: where commands are written."""
    fenced = FENCE.findall(text)
    rest = FENCE.sub("", text)
    return fenced + SPAN.findall(rest)


def _make_targets(code: str) -> set[str]:
    """Targets named after `make`, skipping VAR=value arguments and flags.

    `make lint unit` names two targets; in a diagram line such as `make container
    against that image (read-only ...)` only the first word after `make` is one.
    """
    found = set()
    for match in MAKE.finditer(code):
        words = []
        for word in match.group(1).split():
            if word.startswith("#"):
                break
            if "=" not in word and not word.startswith("-") and word not in ("...", "…"):
                words.append(word)
        names = [w for w in words if NAME.fullmatch(w)]
        if names:
            found.update(names if len(names) == len(words) else names[:1])
    return found


def _commands() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    targets: dict[str, set[str]] = {}
    modules: dict[str, set[str]] = {}
    for page in PAGES:
        for code in _code(page.read_text()):
            for target in _make_targets(code):
                targets.setdefault(target, set()).add(page.name)
            for module in MODULE.findall(code):
                modules.setdefault(module, set()).add(page.name)
    return targets, modules


TARGETS, MODULES = _commands()
MAKEFILE_TARGETS = set(TARGET.findall((ROOT / "Makefile").read_text()))


def test_the_docs_name_commands_at_all():
    broke = "in the docs: the extraction regexes broke"
    assert len(TARGETS) >= 10, f"found only make targets {sorted(TARGETS)} {broke}"
    assert len(MODULES) >= 5, f"found only python -m modules {sorted(MODULES)} {broke}"


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_a_documented_make_target_exists(target: str):
    assert target in MAKEFILE_TARGETS, (
        f"`make {target}` is in {sorted(TARGETS[target])} but the Makefile has no such target: "
        "rename it in the docs or add the target"
    )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_documented_python_module_exists(module: str):
    assert importlib.util.find_spec(module) is not None, (
        f"`python -m {module}` is in {sorted(MODULES[module])} but no such module imports here: "
        "a renamed or moved module, or a dependency missing from requirements*.txt"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_a_relative_link_in_the_docs_points_at_a_file(page: Path):
    broken = [
        href
        for href in LINK.findall(page.read_text())
        if "://" not in href and not href.startswith("mailto:") and not (page.parent / href).exists()
    ]
    assert not broken, f"{page.name} links to files that do not exist: {broken}"


def test_the_extractor_sees_through_variables_and_prose():
    """The parser itself: a VAR=value before or after the target, and prose that is not code."""
    code = _code(
        "To make the gate a gate, run `ARTIFACT_DIR=x make model` then\n```sh\nmake stack-set MODE=canary\n```\n"
    )
    assert set().union(*map(_make_targets, code)) == {"model", "stack-set"}, code
