"""docs/fork.md's "add `payment_method`" walkthrough, declared once: the page quotes it, a test runs it.

Each step is the file it touches, what the page says, the exact edits (old
text -> new text, rendered on the page as a diff) and the commands a user
types. `render()` is the page's section between its
`<!-- fork-walkthrough:begin -->` / `end` markers (a unit test keeps the two
in step: `python -m tools.fork_walkthrough` prints it); tests/docs applies
`STEPS` to a fresh copy of the tree and runs the unit, data and model
surfaces and a served /predict on it. So the page cannot promise a file
count, a snippet or a green surface the code does not deliver.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from src.config import ROOT

PAGE = ROOT / "docs" / "fork.md"
MARKERS = ("<!-- fork-walkthrough:begin -->", "<!-- fork-walkthrough:end -->")
NEW_INPUT = "payment_method"


@dataclass(frozen=True)
class Edit:
    """Replace `old` (which must occur exactly once) with `new` in one file."""

    old: str
    new: str

    def apply(self, text: str, path: str) -> str:
        count = text.count(self.old)
        if count != 1:
            raise ValueError(f"{path}: the walkthrough's anchor occurs {count} times, not once: {self.old[:60]!r}")
        return text.replace(self.old, self.new)

    def diff(self) -> str:
        lines = difflib.unified_diff(self.old.splitlines(), self.new.splitlines(), lineterm="", n=len(self.old))
        return "\n".join(line for line in lines if not line.startswith(("---", "+++", "@@")))


@dataclass(frozen=True)
class Step:
    path: str  # the file the step changes
    says: str  # the page's words (Markdown)
    edits: tuple[Edit, ...] = ()
    commands: tuple[str, ...] = ()  # typed by the user in the repository root, in this order
    language: str = "python"
    derive: Callable[[Path], None] | None = field(default=None, compare=False)  # what the user copies from an output

    def apply(self, root: Path) -> None:
        """The step's edits on a copy rooted at `root` (commands are the caller's: they need the project's venv)."""
        if self.edits:
            target = root / self.path
            text = target.read_text()
            for edit in self.edits:
                text = edit.apply(text, self.path)
            target.write_text(text)


def _record_generated_sha(root: Path) -> None:
    """What the user pastes from `sha256sum data/churn.csv` into GENERATED_SHA256."""
    digest = hashlib.sha256((root / "data" / "churn.csv").read_bytes()).hexdigest()
    path = root / "src" / "make_dataset.py"
    text, count = re.subn(
        r'^GENERATED_SHA256 = "[0-9a-f]{64}"', f'GENERATED_SHA256 = "{digest}"', path.read_text(), count=1, flags=re.M
    )
    if count != 1:
        raise ValueError("src/make_dataset.py: no GENERATED_SHA256 line to update")
    path.write_text(text)


def _paste_schema_table(root: Path) -> None:
    """What the user pastes from `schema.markdown_table()` between README's schema markers."""
    import subprocess

    table = subprocess.run(
        [sys.executable, "-c", "from src import schema; print(schema.markdown_table())"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    readme = root / "README.md"
    text, count = re.subn(
        r"(<!-- schema:begin -->\n).*?(\n<!-- schema:end -->)",
        lambda m: m.group(1) + table + m.group(2),
        readme.read_text(),
        count=1,
        flags=re.S,
    )
    if count != 1:
        raise ValueError("README.md: no schema:begin / schema:end block")
    readme.write_text(text)


SCHEMA_ENTRY = """    Column(
        "payment_method",
        "category",
        why="how the customer pays; manual payers churn more than automatic ones",
        allowed=("electronic-check", "mailed-check", "bank-transfer", "credit-card"),
        example="electronic-check",
    ),
"""
LABEL_ENTRY = """    Column(
        "churned",
"""

STEPS: tuple[Step, ...] = (
    Step(
        "src/schema.py",
        "one `Column` in `COLUMNS`, before the label. From this alone the API accepts and **requires** the "
        "field (every declared input is a required field of `/predict`; only a `nullable` one may be null) and "
        "rejects an unknown value with a 422; the features one-hot encode it from `allowed`, in its order "
        "(the first value is the reference level); the data tests check its blanks and categories; drift "
        "computes its PSI and unknown share; the replay traffic and `make example` send it; and the gate "
        f"checks that shuffling it moves the model (`moves_{NEW_INPUT}`).",
        edits=(Edit(LABEL_ENTRY, SCHEMA_ENTRY + LABEL_ENTRY),),
    ),
    Step(
        "src/make_dataset.py",
        "the data, with the generator: draw the column from its own random stream (the other inputs keep "
        "their values; the label follows the new effect) and give it an effect on churn. With your own export, "
        "put the column in the CSV instead "
        "and go on at step 5.",
        edits=(
            Edit(
                "CHURN_NOISE_SD = 0.3  # unobserved causes, keeps the task realistically hard\n",
                "CHURN_NOISE_SD = 0.3  # unobserved causes, keeps the task realistically hard\n"
                'PAYMENT_MIX = {"electronic-check": 0.34, "mailed-check": 0.23, "bank-transfer": 0.22, '
                '"credit-card": 0.21}\n'
                'CHURN_PAYMENT = {"electronic-check": 0.6, "mailed-check": 0.0, "bank-transfer": -0.35, '
                '"credit-card": -0.4}\n',
            ),
            Edit(
                "    logit = (\n",
                "    payment_rng = np.random.default_rng([seed, 1])\n"
                "    payment = payment_rng.choice(list(PAYMENT_MIX), size=n, p=list(PAYMENT_MIX.values()))\n"
                "    logit = (\n",
            ),
            Edit(
                "        + rng.normal(0.0, CHURN_NOISE_SD, n)\n",
                "        + np.array([CHURN_PAYMENT[p] for p in payment])\n"
                "        + rng.normal(0.0, CHURN_NOISE_SD, n)\n",
            ),
            Edit(
                '            "churned": churned,\n',
                '            "payment_method": payment,\n            "churned": churned,\n',
            ),
        ),
    ),
    Step(
        "data/churn.csv",
        "regenerate the snapshot.",
        commands=("make dataset",),
        language="sh",
    ),
    Step(
        "src/make_dataset.py",
        "record the new snapshot's hash as `GENERATED_SHA256` (the unit test that pins the generator prints it "
        "too): paste the output of",
        commands=("sha256sum data/churn.csv",),
        language="sh",
        derive=_record_generated_sha,
    ),
    Step(
        "README.md",
        "the schema table between the `schema:begin` / `schema:end` markers; a unit test fails until it "
        "matches. Paste the output of",
        commands=('python -c "from src import schema; print(schema.markdown_table())"',),
        language="sh",
        derive=_paste_schema_table,
    ),
    Step(
        "prod_metrics.json",
        "the model now reads another input, so re-baseline it as for a first model (above).",
        commands=("rm prod_metrics.json", "make model", "cp metrics.json prod_metrics.json"),
        language="sh",
    ),
)

TOUCHED: tuple[str, ...] = tuple(dict.fromkeys(step.path for step in STEPS))  # in the order the steps touch them


def render() -> str:
    """The page's walkthrough section, from STEPS."""
    count = len(TOUCHED)
    lines = [
        "Run as written on a fresh copy of this repository by `make docs` (tests/docs/test_fork_walkthrough.py,",
        f"from the steps declared in `tools/fork_walkthrough.py`): it touches **{count} files**, no test among them:",
        ", ".join(f"`{path}`" for path in TOUCHED) + ". `src/features.py` needs no edit for a category.",
        "",
    ]
    for number, step in enumerate(STEPS, 1):
        lines.append(f"{number}. `{step.path}`: {step.says}")
        lines.append("")
        body = [*"\n...\n".join(edit.diff() for edit in step.edits).split("\n")] if step.edits else list(step.commands)
        lines.append("   ```diff" if step.edits else f"   ```{step.language}")
        lines.extend(f"   {line}".rstrip() for chunk in body for line in chunk.splitlines())
        lines.append("   ```")
        lines.append("")
    return "\n".join(lines).rstrip()


def page_section(text: str) -> str | None:
    """What docs/fork.md holds between its walkthrough markers; None without them."""
    begin, end = (re.escape(m) for m in MARKERS)
    found = re.search(rf"{begin}\n(.*?)\n{end}", text, re.S)
    return found.group(1) if found else None


if __name__ == "__main__":
    print(render())
