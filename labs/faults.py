"""The teacher's half of the catalog: what each lab breaks and how its fault is seeded (never in a student's tree).

`labs.catalog` holds what a student may read (the brief, the surface, the
hint); this module holds what would give the fault away: its description for
the teacher's matrix, the seed, and the files the seed touches (a test holds
every seed to exactly those). `start` and `export` seed from it, then leave it
out of the lab's tree with `labs/solutions/` (labs.repo.TEACHER_ONLY).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from labs import edits
from labs.edits import RELEASE, SNAPSHOT, Anchor, EditError, delete_node, edit_snapshot, replace_node, set_release


@dataclass(frozen=True)
class Fault:
    fault: str  # what was broken, for the teacher's matrix (never shown to a student)
    seed: Callable[[Path], None]  # applies the fault to a checkout rooted at the path
    touches: tuple[str, ...]  # the files the seed changes (a seeding test holds it to exactly these)

    @property
    def seed_method(self) -> str:
        """How the fault is seeded, in words (the teacher's matrix)."""
        if any(p.endswith(".py") for p in self.touches):
            return "AST anchor"
        return "snapshot transform" if SNAPSHOT in self.touches else "release.json"


def _numbers(column: pd.Series) -> pd.Series:
    return pd.to_numeric(column.replace("", np.nan))


def _text(values: pd.Series, decimals: int = 2) -> pd.Series:
    return values.map(lambda v: "" if pd.isna(v) else f"{v:.{decimals}f}".rstrip("0").rstrip("."))


# --- faults -------------------------------------------------------------------


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _iterated_feature_columns(node: ast.AST) -> bool:
    """FEATURE_COLUMNS where the matrix is filled: a loop's or comprehension's iterable, or enumerate()'s argument."""
    if not _is_name(node, "FEATURE_COLUMNS"):
        return False
    parent = node.parent  # type: ignore[attr-defined]
    if isinstance(parent, ast.Call) and edits.calls("enumerate")(parent) and parent.args[:1] == [node]:
        parent = parent.parent  # type: ignore[attr-defined]
        node = node.parent  # type: ignore[attr-defined]
    return isinstance(parent, ast.For | ast.comprehension) and parent.iter is node


FILL_ORDER = Anchor(
    "src/features.py", "build_matrix", "FEATURE_COLUMNS iterated to fill the matrix", _iterated_feature_columns
)


def _fills_blank_totals(node: ast.AST) -> bool:
    """`x = np.where(np.isnan(...), ...)`: the statement that imputes a blank total."""
    return (
        isinstance(node, ast.Assign)
        and edits.calls("where")(node.value)
        and bool(node.value.args)
        and edits.calls("isnan")(node.value.args[0])
    )


IMPUTATION = Anchor(
    "src/features.py", "build_matrix", "the np.where(np.isnan(...)) imputing a blank total", _fills_blank_totals
)


def _refuses_unknown(node: ast.AST) -> bool:
    """An `if` whose body raises ValueError(f"unknown ..."): the guard against a category the contract lacks."""
    if not isinstance(node, ast.If):
        return False
    for stmt in node.body:
        if isinstance(stmt, ast.Raise) and isinstance(stmt.exc, ast.Call) and edits.calls("ValueError")(stmt.exc):
            message = stmt.exc.args[0] if stmt.exc.args else None
            first = message.values[0] if isinstance(message, ast.JoinedStr) and message.values else message
            if isinstance(first, ast.Constant) and str(first.value).startswith("unknown "):
                return True
    return False


UNKNOWN_GUARD = Anchor(
    "src/features.py", "_category", 'the if that raises ValueError(f"unknown ...")', _refuses_unknown
)
SPLIT_CALL = Anchor("src/train.py", "fit", "the call split(X, y)", edits.calls("split"))


def _churn_column(node: ast.AST) -> bool:
    """`....predict_proba(...)[:, 1]`: the probability of churn, column 1."""
    return (
        isinstance(node, ast.Subscript)
        and edits.calls("predict_proba")(node.value)
        and isinstance(node.slice, ast.Tuple)
        and len(node.slice.elts) == 2
        and isinstance(node.slice.elts[1], ast.Constant)
        and node.slice.elts[1].value == 1
    )


CHURN_COLUMN = Anchor("src/train.py", "evaluate", "predict_proba(...)[:, 1]", _churn_column)
CLASSIFIER = Anchor(
    "src/train.py",
    "train_model",
    "the LogisticRegression(...) call without class_weight",
    lambda n: edits.calls("LogisticRegression")(n) and not any(kw.arg == "class_weight" for kw in n.keywords),
)
CALIBRATION_CHECK = Anchor(
    "src/gate/contract.py",
    "CHECKS",
    'the Check(id="calibration", ...) element',
    lambda n: edits.calls("Check")(n) and edits.keyword(n, "id") == "calibration",
)


def _columns_reordered(root: Path) -> None:
    replace_node(
        root, FILL_ORDER, lambda src, node: f"sorted({src})", comment="alphabetical: easier to read in a debugger"
    )


def _imputation_removed(root: Path) -> None:
    delete_node(root, IMPUTATION)


def _unknown_category_encoded(root: Path) -> None:
    delete_node(
        root, UNKNOWN_GUARD, comment="new plans from marketing: score them like the default plan rather than fail"
    )


def _split_diverges(root: Path) -> None:
    for name in ("TEST_SIZE", "train_test_split"):
        if not edits.module_defines(root, "src/train.py", name):
            raise EditError(f"{SPLIT_CALL}: src/train.py no longer defines or imports {name}, which the fault uses")

    def resplit(src: str, node: ast.AST) -> str:
        args = ", ".join(ast.unparse(a) for a in node.args)
        return f"train_test_split({args}, test_size=TEST_SIZE, random_state=seed)"

    replace_node(root, SPLIT_CALL, resplit, comment="a fresh split per seed: try several and keep the best model")


def _auc_on_stay_column(root: Path) -> None:
    replace_node(root, CHURN_COLUMN, lambda src, node: "0", part=lambda node: node.slice.elts[1])


def _calibration_check_removed(root: Path) -> None:
    replace_node(root, CLASSIFIER, lambda src, node: src[:-1].rstrip().rstrip(",") + ', class_weight="balanced")')
    delete_node(root, CALIBRATION_CHECK)


def _leaky_column(raw: pd.DataFrame) -> pd.DataFrame:
    return raw.assign(churn_date=raw["churned"].map({"1": "2025-11-30", "0": ""}))


def _yes_no_label(raw: pd.DataFrame) -> pd.DataFrame:
    return raw.assign(churned=raw["churned"].map({"1": "Yes", "0": "No"}))


def _duplicated_customers(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([raw, raw.sample(400, random_state=3)], ignore_index=True)


def _charges_in_cents(raw: pd.DataFrame) -> pd.DataFrame:
    return raw.assign(
        monthly_charges=_text(_numbers(raw["monthly_charges"]) * 100, 0),
        total_charges=_text(_numbers(raw["total_charges"]) * 100, 0),
    )


def _truncated_export(raw: pd.DataFrame) -> pd.DataFrame:
    return raw.head(800)


def _leaky_charges(raw: pd.DataFrame) -> pd.DataFrame:
    churned = raw["churned"].astype(int)
    tenure = raw["tenure_months"].astype(int)
    monthly = (40 + 45 * churned + np.random.default_rng(0).normal(0, 3, len(raw))).round(2)
    total = (monthly * tenure).where(tenure > 0).round(2)
    return raw.assign(monthly_charges=_text(monthly), total_charges=_text(total))


def _shuffled_labels(raw: pd.DataFrame) -> pd.DataFrame:
    return raw.assign(churned=raw["churned"].sample(frac=1.0, random_state=5).to_numpy())


def _failing_slice(raw: pd.DataFrame) -> pd.DataFrame:
    one_year = raw.index[raw["contract"] == "one-year"]
    churners = int((raw.loc[one_year, "churned"] == "1").sum())
    longest = raw.loc[one_year, "tenure_months"].astype(int).sort_values(kind="stable").index[-churners:]
    churned = raw["churned"].copy()
    churned[one_year] = "0"
    churned[longest] = "1"
    return raw.assign(churned=churned)


def _snapshot(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    return lambda root: edit_snapshot(root, change)


def _quarterly_charges(raw: pd.DataFrame) -> pd.DataFrame:
    """Charges per quarter (x3): inside every data bound, and the scaler hides it from the gate."""
    return raw.assign(
        monthly_charges=_text(_numbers(raw["monthly_charges"]) * 3),
        total_charges=_text(_numbers(raw["total_charges"]) * 3),
    )


# --- every lab's fault, by the lab's id (labs.catalog) ----------------------------

FAULTS: dict[str, Fault] = {
    "columns-reordered": Fault(
        "the feature matrix is filled in sorted order under FEATURE_COLUMNS' names",
        _columns_reordered,
        ("src/features.py",),
    ),
    "imputation-removed": Fault(
        "the blank total_charges of new customers is no longer imputed",
        _imputation_removed,
        ("src/features.py",),
    ),
    "unknown-category-encoded": Fault(
        "an unknown contract is silently scored as month-to-month",
        _unknown_category_encoded,
        ("src/features.py",),
    ),
    "split-diverges": Fault(
        "training re-splits with its own seed: the gate judges a holdout other than split()'s",
        _split_diverges,
        ("src/train.py",),
    ),
    "leaky-column": Fault(
        "the export gained a churn_date column",
        _snapshot(_leaky_column),
        (SNAPSHOT,),
    ),
    "yes-no-label": Fault(
        "the label is exported as Yes/No",
        _snapshot(_yes_no_label),
        (SNAPSHOT,),
    ),
    "duplicated-customers": Fault(
        "a one-to-many join duplicated 400 customers",
        _snapshot(_duplicated_customers),
        (SNAPSHOT,),
    ),
    "charges-in-cents": Fault(
        "monthly and total charges are exported in cents",
        _snapshot(_charges_in_cents),
        (SNAPSHOT,),
    ),
    "truncated-export": Fault(
        "the export stopped after 800 rows",
        _snapshot(_truncated_export),
        (SNAPSHOT,),
    ),
    "auc-on-stay-column": Fault(
        "the holdout AUC is computed on predict_proba[:, 0], the probability of staying",
        _auc_on_stay_column,
        ("src/train.py",),
    ),
    "calibration-check-removed": Fault(
        "the model is trained with balanced class weights and the calibration check was deleted from the gate",
        _calibration_check_removed,
        ("src/train.py", "src/gate/contract.py"),
    ),
    "leaky-charges": Fault(
        "monthly_charges was exported after cancellation fees, so it encodes the label",
        _snapshot(_leaky_charges),
        (SNAPSHOT,),
    ),
    "shuffled-labels": Fault(
        "the churn flags were joined to the wrong customers (shuffled labels)",
        _snapshot(_shuffled_labels),
        (SNAPSHOT,),
    ),
    "failing-slice": Fault(
        "one-year contracts' churn flags mark the longest-tenure customers (a renewal-system export bug)",
        _snapshot(_failing_slice),
        (SNAPSHOT,),
    ),
    "candidate-500s": Fault(
        "the candidate is deployed with FAULT_ERROR_RATE=0.3 (deploy.drivers.faulty)",
        lambda root: set_release(
            root, candidate_app="deploy.drivers.faulty:app", candidate_env={"FAULT_ERROR_RATE": "0.3"}
        ),
        (RELEASE,),
    ),
    "slower-candidate": Fault(
        "the candidate is deployed with an extra 20 ms per /predict (FAULT_DELAY_S=0.02)",
        lambda root: set_release(
            root, candidate_app="deploy.drivers.faulty:app", candidate_env={"FAULT_DELAY_S": "0.02"}
        ),
        (RELEASE,),
    ),
    "train-serve-skew": Fault(
        "the training export sends charges per quarter (x3); the service is sent monthly charges",
        _snapshot(_quarterly_charges),
        (SNAPSHOT,),
    ),
    "ab-decisions-differ": Fault(
        "the candidate flags churn at 0.3 instead of 0.5 (DECISION_THRESHOLD): same scores, other decisions",
        lambda root: set_release(root, candidate_env={"DECISION_THRESHOLD": "0.3"}),
        (RELEASE,),
    ),
}
