"""The break-the-pipeline matrix, rendered from the catalog for docs/lab.md (a test keeps it in step)."""

from __future__ import annotations

from pathlib import Path

from labs.catalog import LABS

BEGIN, END = "<!-- labs:matrix:begin -->", "<!-- labs:matrix:end -->"
PAGE = Path(__file__).resolve().parent.parent / "docs" / "lab.md"


def markdown() -> str:
    lines = [
        "| lab | fault | seeded by | caught by | what the surface prints | difficulty | minutes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for lab in LABS:
        lines.append(
            f"| `{lab.id}` | {lab.fault} | {lab.seed_method} ({', '.join(f'`{p}`' for p in lab.touches)}) "
            f"| {lab.surface} | `{lab.hint}` | {lab.difficulty} | {lab.minutes} |"
        )
    return "\n".join(lines)


def current(page: str) -> str:
    return page.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def write(page: Path = PAGE) -> None:
    text = page.read_text()
    head, rest = text.split(BEGIN, 1)
    page.write_text(f"{head}{BEGIN}\n{markdown()}\n{END}{rest.split(END, 1)[1]}")
