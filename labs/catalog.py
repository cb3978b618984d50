"""Every lab, declared once: the incident a student meets, the fault behind it, and who must catch it.

`python -m labs list`, `start`, `check`, the break-the-pipeline matrix test
(tests/labs) and the matrix in docs/lab.md all read this tuple; nothing about
a lab is written down twice. A brief describes the symptom as an on-call
engineer would meet it, never the cause. `hint` is the text the intended
surface must print when it goes red: the lesson is that the surface says
what broke, so a lab whose surface goes red without it is a broken lab.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from labs import edits
from labs.edits import RELEASE, SNAPSHOT, Anchor, EditError, delete_node, edit_snapshot, replace_node, set_release

Surface = Literal["code", "data", "model", "service", "deploy"]
SURFACES: tuple[Surface, ...] = ("code", "data", "model", "service", "deploy")  # cheapest first


@dataclass(frozen=True)
class Lab:
    id: str
    surface: Surface  # the surface that must catch it, with its hint (a cheaper one may go red too)
    difficulty: Literal["easy", "medium", "hard"]
    minutes: int  # a student's time to diagnose and fix, measured in a dry run
    fault: str  # what was broken, for the teacher's matrix (never shown by `start`)
    brief: str  # the incident as a student meets it: symptom, not cause
    hint: str  # printed by the intended surface when it goes red
    seed: Callable[[Path], None]  # applies the fault to a checkout rooted at the path
    focus: tuple[str, ...] = ()  # unit test files that hold this lab's lesson (quick checks run only these)
    touches: tuple[str, ...] = ()  # the files the seed changes (a seeding test holds it to exactly these)

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
    "src/features.py", "_contract", 'the if that raises ValueError(f"unknown ...")', _refuses_unknown
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
    "src/gate.py",
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


# --- the labs, cheapest surface first ------------------------------------------

LABS: tuple[Lab, ...] = (
    Lab(
        "columns-reordered",
        "code",
        "easy",
        20,
        "the feature matrix is filled in sorted order under FEATURE_COLUMNS' names",
        "A teammate tidied src/features.py so the columns are easier to read in a debugger. Since then a "
        "new customer's total_charges comes out equal to their monthly_charges, and the churn scores of "
        "long-standing customers look odd. Nothing crashed.",
        "total_charges",
        _columns_reordered,
        ("tests/unit/test_features.py",),
        touches=("src/features.py",),
    ),
    Lab(
        "imputation-removed",
        "code",
        "easy",
        15,
        "the blank total_charges of new customers is no longer imputed",
        "After a clean-up of src/features.py, the service's error log shows failures for brand-new customers "
        "only (first month, nothing billed yet). Everyone else is scored as before.",
        "leaked NaN into the features",
        _imputation_removed,
        ("tests/unit/test_features.py",),
        touches=("src/features.py",),
    ),
    Lab(
        "unknown-category-encoded",
        "code",
        "medium",
        20,
        "an unknown contract is silently scored as month-to-month",
        "Marketing launched a 'three-year' plan. Nothing failed anywhere, but those customers get the "
        "churn scores of month-to-month customers, and finance asks why the forecast for the new plan is so grim.",
        "unknown contract",
        _unknown_category_encoded,
        ("tests/unit/test_features.py",),
        touches=("src/features.py",),
    ),
    Lab(
        "split-diverges",
        "code",
        "medium",
        25,
        "training re-splits with its own seed: the gate judges a holdout other than split()'s",
        "A change to src/train.py lets you try several training seeds. Since then the gate's AUC moves "
        "with the seed even though logistic regression ignores it, and a reviewer asks whether the gate "
        "still measures the holdout everyone tuned on.",
        "the gate would judge a different holdout",
        _split_diverges,
        ("tests/unit/test_one_split.py", "tests/unit/test_train.py"),
        touches=("src/train.py",),
    ),
    Lab(
        "leaky-column",
        "data",
        "easy",
        10,
        "the export gained a churn_date column",
        "The warehouse team added 'a few helpful columns' to the monthly export. The pipeline now has a "
        "column nobody asked for.",
        "only known after a customer churns",
        _snapshot(_leaky_column),
        touches=(SNAPSHOT,),
    ),
    Lab(
        "yes-no-label",
        "data",
        "easy",
        10,
        "the label is exported as Yes/No",
        "The export was migrated to a new BI tool. Training now dies with a conversion error on the label column.",
        "a Yes/No or multi-class status",
        _snapshot(_yes_no_label),
        touches=(SNAPSHOT,),
    ),
    Lab(
        "duplicated-customers",
        "data",
        "easy",
        15,
        "a one-to-many join duplicated 400 customers",
        "The export now joins the billing table to pick up invoices. The row count went up by a few "
        "hundred, though the number of customers did not change.",
        "a one-to-many join fanned rows out",
        _snapshot(_duplicated_customers),
        touches=(SNAPSHOT,),
    ),
    Lab(
        "charges-in-cents",
        "data",
        "easy",
        15,
        "monthly and total charges are exported in cents",
        "Billing moved to a new ledger. The monthly charges in the export look a hundred times "
        "more expensive than the price list.",
        "a unit changed (days, cents)",
        _snapshot(_charges_in_cents),
        touches=(SNAPSHOT,),
    ),
    Lab(
        "truncated-export",
        "data",
        "easy",
        10,
        "the export stopped after 800 rows",
        "Last night's export job hit a timeout and was retried. The file is much smaller than last month's.",
        "the export was truncated",
        _snapshot(_truncated_export),
        touches=(SNAPSHOT,),
    ),
    Lab(
        "auc-on-stay-column",
        "model",
        "medium",
        20,
        "the holdout AUC is computed on predict_proba[:, 0], the probability of staying",
        "After a refactor of the evaluation code the gate rejects every model, including the one in "
        "production, whose predictions nobody has complained about.",
        "not good enough to ship",
        _auc_on_stay_column,
        touches=("src/train.py",),
    ),
    Lab(
        "calibration-check-removed",
        "model",
        "hard",
        45,
        "the model is trained with balanced class weights and the calibration check was deleted from the gate",
        "Recall went up after a change to training, and the gate passes. Customer success says the "
        "customers scored 0.7 churn far less than 70 % of the time. Someone also removed a gate check "
        "'that kept failing'. Write it back, then make the model pass it.",
        "the gate no longer runs ['calibration']",
        _calibration_check_removed,
        touches=("src/train.py", "src/gate.py"),
    ),
    Lab(
        "leaky-charges",
        "model",
        "medium",
        25,
        "monthly_charges was exported after cancellation fees, so it encodes the label",
        "The new snapshot passes every data test and the model's AUC jumped to nearly 1.0. The product "
        "manager wants to ship it today.",
        "too good to be true",
        _snapshot(_leaky_charges),
        touches=(SNAPSHOT,),
    ),
    Lab(
        "shuffled-labels",
        "model",
        "medium",
        20,
        "the churn flags were joined to the wrong customers (shuffled labels)",
        "The label now comes from a new CRM extract, joined on row number. The churn rate is exactly "
        "what it was, every data test is green, and the gate is red.",
        "not good enough to ship",
        _snapshot(_shuffled_labels),
        touches=(SNAPSHOT,),
    ),
    Lab(
        "failing-slice",
        "model",
        "hard",
        35,
        "one-year contracts' churn flags mark the longest-tenure customers (a renewal-system export bug)",
        "Overall AUC looks fine, but the account managers for one-year contracts say the scores are "
        "useless for their customers.",
        "fails one customer segment",
        _snapshot(_failing_slice),
        touches=(SNAPSHOT,),
    ),
    Lab(
        "candidate-500s",
        "service",
        "easy",
        15,
        "the candidate is deployed with FAULT_ERROR_RATE=0.3 (deploy.faulty)",
        "The new candidate release (labs/release.json) passed every offline gate. Its service starts "
        "and answers /health, but the on-call channel reports errors from it.",
        "answered HTTP 5xx",
        lambda root: set_release(root, candidate_app="deploy.faulty:app", candidate_env={"FAULT_ERROR_RATE": "0.3"}),
        touches=(RELEASE,),
    ),
    Lab(
        "slower-candidate",
        "deploy",
        "medium",
        25,
        "the candidate is deployed with an extra 20 ms per /predict (FAULT_DELAY_S=0.02)",
        "The candidate release (labs/release.json) passed every offline gate and answers every request "
        "correctly, yet its rollout never gets past the first stage.",
        "candidate slower",
        lambda root: set_release(root, candidate_app="deploy.faulty:app", candidate_env={"FAULT_DELAY_S": "0.02"}),
        touches=(RELEASE,),
    ),
    Lab(
        "train-serve-skew",
        "deploy",
        "hard",
        40,
        "the training export sends charges per quarter (x3); the service is sent monthly charges",
        "Finance now exports charges per billing quarter, and the model was retrained on that export. It "
        "passed its own gate with the same AUC as production. In shadow, the candidate disagrees with "
        "production on the very customers both models are sent.",
        "train/serve skew",
        _snapshot(_quarterly_charges),
        touches=(SNAPSHOT,),
    ),
    Lab(
        "ab-decisions-differ",
        "deploy",
        "medium",
        25,
        "the candidate flags churn at 0.3 instead of 0.5 (DECISION_THRESHOLD): same scores, other decisions",
        "Product asked for a candidate that 'catches more churners'. Offline it is the same model, but "
        "in the A/B comparison the two variants disagree on many customers and the rollout aborts.",
        "churn-share shift",
        lambda root: set_release(root, candidate_env={"DECISION_THRESHOLD": "0.3"}),
        touches=(RELEASE,),
    ),
)

BY_ID: dict[str, Lab] = {lab.id: lab for lab in LABS}
