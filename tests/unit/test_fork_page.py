"""docs/fork.md quotes the walkthrough tests/docs runs: the page's steps are tools/fork_walkthrough.py's."""

from __future__ import annotations

from tools.fork_walkthrough import MARKERS, PAGE, STEPS, TOUCHED, page_section, render


def test_the_fork_page_quotes_the_walkthrough_the_docs_surface_runs() -> None:
    section = page_section(PAGE.read_text())
    assert section is not None, f"docs/fork.md lost its {MARKERS[0]} ... {MARKERS[1]} block"
    assert section == render(), (
        "docs/fork.md's walkthrough differs from tools/fork_walkthrough.py: paste `python -m tools.fork_walkthrough`"
    )


def test_the_walkthrough_touches_no_test_and_says_how_many_files() -> None:
    assert not [p for p in TOUCHED if p.startswith("tests/")], "a fork's first input must not need a test edited"
    assert f"**{len(TOUCHED)} files**" in render(), "the page's file count must be the steps' own"


def test_every_edit_of_the_walkthrough_finds_its_anchor_once_in_this_tree() -> None:
    for step in STEPS:
        text = (PAGE.parents[1] / step.path).read_text() if step.edits else ""
        for edit in step.edits:
            assert text.count(edit.old) == 1, f"{step.path}: the walkthrough's anchor moved: {edit.old[:60]!r}"
            text = edit.apply(text, step.path)
