"""The break-the-pipeline matrix, rendered from the catalog for docs/lab.md (a test keeps it in step)."""

from __future__ import annotations

from pathlib import Path

from labs.catalog import LABS

BEGIN, END = "<!-- labs:matrix:begin -->", "<!-- labs:matrix:end -->"
PAGE_PATH = "docs/lab.md"
PAGE = Path(__file__).resolve().parent.parent / PAGE_PATH
WITHHELD = "_The teacher's copy of this page lists each lab's fault here; a lab's tree leaves the matrix out._"


def markdown() -> str:
    """The teacher's matrix: needs labs/faults.py, which only the course repository holds."""
    try:
        from labs.faults import FAULTS
    except ImportError:
        raise RuntimeError("the matrix is the teacher's: run it in the course repository, not a lab's tree") from None
    lines = [
        "| lab | fault | seeded by | caught by | what the surface prints | difficulty | minutes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for lab in LABS:
        lines.append(
            f"| `{lab.id}` | {FAULTS[lab.id].fault} | {FAULTS[lab.id].seed_method} "
            f"({', '.join(f'`{p}`' for p in FAULTS[lab.id].touches)}) "
            f"| {lab.surface} | `{lab.hint}` | {lab.difficulty} | {lab.minutes} |"
        )
    return "\n".join(lines)


def current(page: str) -> str:
    return page.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def write(page: Path = PAGE, table: str | None = None) -> None:
    text = page.read_text()
    head, rest = text.split(BEGIN, 1)
    page.write_text(f"{head}{BEGIN}\n{markdown() if table is None else table}\n{END}{rest.split(END, 1)[1]}")


def withhold(page: Path) -> None:
    """A lab's copy of the page: the matrix (every fault, named) replaced by one line."""
    if page.is_file() and BEGIN in page.read_text():
        write(page, WITHHELD)
