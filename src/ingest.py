"""Turn a raw export into a contract snapshot by a declared mapping, never by a script per team.

Real exports are not the contract: the IBM Telco table calls the id
`customerID`, the label `Churn` with `Yes`/`No`, the plans `Month-to-month`,
`One year`, `Two year`, writes a new customer's blank total as a single
space, and carries columns the model does not use. A mapping file (TOML,
read with the standard library) declares each difference once:

    drop = ["gender", "Partner"]           # export columns the contract does not use
    [columns]                              # contract column = export column
    customer_id = "customerID"
    [values.churned]                       # export value = contract value
    Yes = "1"
    No = "0"

Every contract column must be mapped, every export column must be mapped
or dropped (an undeclared extra column is how a post-churn field slips in),
and a column with a value map must use only its keys. Cells holding only
whitespace are blank. The result is written atomically and only once it
loads strictly by the contract, so a failed ingest never replaces a good
snapshot. `mappings/telco.toml` maps the public Telco export.

    python -m src.ingest --mapping mappings/telco.toml --export export.csv [--out data/churn.csv]

Exit codes: 0 written; 2 the export or the mapping does not fit (one line).
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from src import atomic, config, data, exits, schema


class IngestError(ValueError):
    """An export or a mapping that does not fit the contract; the message is one line."""


@dataclass(frozen=True)
class Mapping:
    """The declared differences between one export and the contract."""

    columns: dict[str, str]  # contract column -> export column
    values: dict[str, dict[str, str]]  # contract column -> {export value: contract value}
    drop: tuple[str, ...]  # export columns the contract does not use


def read_mapping(path: Path) -> Mapping:
    """Parse a mapping file; a key outside the contract or a value map of a non-text value is refused."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IngestError(f"no mapping at {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise IngestError(f"{path}: not a readable mapping ({exc})") from None
    unknown = set(raw) - {"columns", "values", "drop"}
    if unknown:
        raise IngestError(f"{path}: unknown section(s) {sorted(unknown)}; a mapping has columns, values, drop")
    columns = {str(k): str(v) for k, v in raw.get("columns", {}).items()}
    values = {str(k): {str(a): str(b) for a, b in v.items()} for k, v in raw.get("values", {}).items()}
    for name in [*columns, *values]:
        if name not in schema.BY_NAME:
            raise IngestError(f"{path}: {name!r} is not a contract column; the contract is {list(schema.BY_NAME)}")
    return Mapping(columns, values, tuple(str(c) for c in raw.get("drop", [])))


def apply(mapping: Mapping, export: pd.DataFrame) -> pd.DataFrame:
    """The export as contract columns, in contract order, as text: renamed, value-mapped, blanks blank."""
    missing = [c.name for c in schema.COLUMNS if mapping.columns.get(c.name, c.name) not in export.columns]
    if missing:
        wanted = [mapping.columns.get(name, name) for name in missing]
        raise IngestError(f"the export has no column(s) {wanted} for contract column(s) {missing}")
    used = {mapping.columns.get(c.name, c.name) for c in schema.COLUMNS} | set(mapping.drop)
    extra = [c for c in export.columns if c not in used]
    if extra:
        raise IngestError(f"export column(s) {extra[:5]} are neither mapped nor dropped: declare them in the mapping")
    out = pd.DataFrame(index=export.index)
    for column in schema.COLUMNS:
        text = export[mapping.columns.get(column.name, column.name)].astype("string").str.strip()
        text = text.mask(text == "")
        table = mapping.values.get(column.name)
        if table is not None:
            unmapped = text.notna() & ~text.isin(list(table))
            if unmapped.any():
                sample = ", ".join(repr(v) for v in text[unmapped].unique()[:3])
                raise IngestError(
                    f"{column.name}: {int(unmapped.sum())} value(s) not in the mapping's values.{column.name}, "
                    f"e.g. {sample}; mapped: {', '.join(map(repr, table))}"
                )
            text = text.map(table, na_action="ignore")
        out[column.name] = text
    return out


def ingest(mapping_path: Path, export_path: Path, out: Path) -> pd.DataFrame:
    """Map the export and replace `out` only with a snapshot that loads strictly by the contract."""
    mapping = read_mapping(mapping_path)
    try:
        export = pd.read_csv(export_path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise IngestError(f"no export at {export_path}") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise IngestError(f"{export_path}: not a readable CSV ({exc})") from None
    snapshot = apply(mapping, export)
    staged = atomic.stage(out, lambda path: snapshot.to_csv(path, index=False, lineterminator="\n"))
    try:
        typed = data.load(staged)
    except data.DataError as exc:
        staged.unlink(missing_ok=True)
        raise IngestError(str(exc).replace(str(staged), f"the mapped {export_path}")) from None
    staged.replace(out)
    return typed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.ingest", description="Map a raw export to a snapshot.")
    parser.add_argument("--mapping", type=Path, required=True, help="the mapping file (TOML), e.g. mappings/telco.toml")
    parser.add_argument("--export", type=Path, required=True, help="the raw export CSV")
    parser.add_argument("--out", type=Path, default=None, help="the snapshot to write (default: $CHURN_DATA)")
    args = parser.parse_args(argv)
    out = args.out or config.settings().churn_data
    try:
        typed = ingest(args.mapping, args.export, out)
    except IngestError as exc:
        return exits.refuse("ingest", exc)
    print(f"wrote {len(typed)} customers, churn rate {typed[schema.LABEL].mean():.3f} -> {out} (next: make data)")
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
