"""Every CLI of src/ and tools/ answers bad input the same way: exit 2 (exits.REFUSED) and one readable line.

A script, `make` or a workflow step branches on the code (src/exits.py): 1
means "it ran and the verdict is no", so a missing file that exits 1 would
read as a failed gate or a drift retrain. Each case runs the CLI's real
`main` in-process on input that cannot be used.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

from src import exits, ingest, make_dataset, report, signing, train
from src.config import ROOT
from src.drift import __main__ as drift_cli
from src.gate import __main__ as gate_cli
from tools import ci_local, crd_schemas


def _cases(tmp: Path) -> dict[str, tuple[Callable[[list[str]], int], list[str], str]]:
    """name -> (main, argv, the prefix its one line starts with); every path under `tmp` is missing or empty."""
    missing = tmp / "missing.csv"
    empty = tmp / "empty"
    empty.mkdir()
    corrupt = tmp / "corrupt"
    corrupt.mkdir()
    (corrupt / "metrics.json").write_text("{}")
    return {
        "train, no snapshot": (train.main, ["--data", str(missing), "--out", str(tmp / "out")], "train: "),
        "report, no record": (report.main, ["--dir", str(empty)], "report: no gate record"),
        "report, an unreadable record": (report.main, ["--dir", str(corrupt)], "report: "),
        "make_dataset, no rows": (make_dataset.main, ["--rows", "0", "--out", str(tmp / "x.csv")], "make_dataset: "),
        "ingest, no mapping": (
            ingest.main,
            ["--mapping", str(tmp / "none.toml"), "--export", str(missing), "--out", str(tmp / "x.csv")],
            "ingest: no mapping",
        ),
        "gate, no snapshot": (
            gate_cli.main,
            ["--data", str(missing), "--out", str(tmp / "out"), "--baseline", str(tmp / "none.json")],
            "gate: ",
        ),
        "drift, no log": (drift_cli.main, ["--log", str(tmp / "none.log"), "--data", str(missing)], "drift: "),
        "signing, nothing to sign": (signing.main, ["sign", "--key", str(tmp / "none.pem"), str(empty)], "sign failed"),
        "crd_schemas, no CRD file": (crd_schemas.main, [str(tmp / "none.yaml"), "--out", str(tmp)], "crd_schemas: "),
        "ci_local, no workflow": (ci_local.main, ["--workflow", str(tmp / "none.yml")], "ci_local: "),
    }


NAMES = [
    "train, no snapshot",
    "report, no record",
    "report, an unreadable record",
    "make_dataset, no rows",
    "ingest, no mapping",
    "gate, no snapshot",
    "drift, no log",
    "signing, nothing to sign",
    "crd_schemas, no CRD file",
    "ci_local, no workflow",
]


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_exits_2_with_one_line_never_1_which_reads_as_a_verdict(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main, argv, prefix = _cases(tmp_path)[name]
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == exits.REFUSED, f"{name}: exit {code}, not {exits.REFUSED}:\n{err}"
    assert len(err.splitlines()) == 1, f"{name}: bad input must be one readable line, got:\n{err}"
    assert err.startswith(prefix), f"{name}: the line must start {prefix!r}: {err}"


def test_the_named_cases_are_the_cases_built(tmp_path: Path) -> None:
    assert sorted(_cases(tmp_path)) == sorted(NAMES), "a case was added or renamed in one place only"


def test_no_cli_in_src_or_tools_keeps_a_private_exit_code_table() -> None:
    private = []
    for path in sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "tools").rglob("*.py")]):
        tree = ast.parse(path.read_text())
        for stmt in tree.body:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else []
            names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
            private += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.startswith("EXIT_")]
    assert not private, f"exit codes live in src/exits.py only (OK, NO, REFUSED, INTERRUPTED): {private}"
