"""Reference solutions, for teachers and the matrix test: `python -m labs solve` applies the running lab's.

Students work without these (docs/lab.md: hand them out after the session).
Each one is what a good fix looks like, made on the working tree and left
uncommitted, so `git diff` shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from labs.edits import RELEASE, SNAPSHOT, replace, restore

Solution = Callable[[Path, str], None]  # (checkout root, the commit the lab started from)


def _reexport(root: Path, base: str) -> None:
    """The fix for a broken export is a good export: the snapshot as the last good run produced it."""
    restore(root, base, SNAPSHOT)


def _redeploy(root: Path, base: str) -> None:
    """Deploy the candidate as the service itself, with no drill settings."""
    restore(root, base, RELEASE)


def _columns_in_declared_order(root: Path, base: str) -> None:
    replace(
        root,
        "src/features.py",
        "for position, name in enumerate(sorted(FEATURE_COLUMNS)):  # alphabetical: easier to read in a debugger",
        "for position, name in enumerate(FEATURE_COLUMNS):",
    )


def _impute_blank_totals(root: Path, base: str) -> None:
    replace(
        root,
        "src/features.py",
        '        total = _numbers(df, "total_charges", allow_blank=True)\n',
        '        total = _numbers(df, "total_charges", allow_blank=True)\n'
        "        total = np.where(np.isnan(total), tenure * monthly, total)\n",
    )


def _refuse_unknown_contracts(root: Path, base: str) -> None:
    replace(
        root,
        "src/features.py",
        "    if unknown:  # new plans from marketing: score them like the default plan rather than fail\n"
        '        values = np.where(np.isin(values, CONTRACTS), values, "month-to-month")\n',
        "    if unknown:\n"
        "        bad = sorted(map(str, unknown))[0]\n"
        "        raise ValueError(f\"unknown contract {bad!r}; allowed: {', '.join(CONTRACTS)}\")\n",
    )


def _one_split(root: Path, base: str) -> None:
    replace(
        root,
        "src/train.py",
        "    # a fresh split per seed: try several and keep the best model\n"
        "    X_train, X_hold, y_train, y_hold = train_test_split(X, y, test_size=TEST_SIZE, random_state=seed)\n",
        "    X_train, X_hold, y_train, y_hold = split(X, y)\n",
    )


def _auc_on_churn_column(root: Path, base: str) -> None:
    replace(root, "src/train.py", "predict_proba(X_hold)[:, 0]", "predict_proba(X_hold)[:, 1]")


def _calibration_back(root: Path, base: str) -> None:
    """Write the check back exactly as declared, and drop the reweighting that broke calibration."""
    restore(root, base, "src/gate.py")
    replace(root, "src/train.py", ', class_weight="balanced")', ")")


SOLUTIONS: dict[str, Solution] = {
    "columns-reordered": _columns_in_declared_order,
    "imputation-removed": _impute_blank_totals,
    "unknown-category-encoded": _refuse_unknown_contracts,
    "split-diverges": _one_split,
    "leaky-column": _reexport,
    "yes-no-label": _reexport,
    "duplicated-customers": _reexport,
    "charges-in-cents": _reexport,
    "truncated-export": _reexport,
    "auc-on-stay-column": _auc_on_churn_column,
    "calibration-check-removed": _calibration_back,
    "leaky-charges": _reexport,
    "shuffled-labels": _reexport,
    "failing-slice": _reexport,
    "candidate-500s": _redeploy,
    "slower-candidate": _redeploy,
    "train-serve-skew": _reexport,
    "ab-decisions-differ": _redeploy,
}
