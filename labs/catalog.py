"""Every lab, declared once: the incident a student meets and who must catch it.

`python -m labs list`, `start`, `check`, the tests that prove every lab
(tests/labs, tests/lab_matrix) and the matrix in docs/lab.md all read this
tuple; nothing about a lab is written down twice. It is the student's half:
what each lab breaks and how it is seeded live in `labs/faults.py`, which a
lab's tree leaves out, so reading the grader never gives a fault away. A brief describes the symptom as an on-call
engineer would meet it, never the cause. `hint` is the text the intended
surface must print when it goes red: the lesson is that the surface says
what broke, so a lab whose surface goes red without it is a broken lab.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Surface = Literal["code", "data", "model", "service", "deploy"]
SURFACES: tuple[Surface, ...] = ("code", "data", "model", "service", "deploy")  # cheapest first


@dataclass(frozen=True)
class Lab:
    id: str
    surface: Surface  # the surface that must catch it, with its hint (a cheaper one may go red too)
    difficulty: Literal["easy", "medium", "hard"]
    minutes: int  # a student's time to diagnose and fix, measured in a dry run
    brief: str  # the incident as a student meets it: symptom, not cause
    hint: str  # printed by the intended surface when it goes red
    focus: tuple[str, ...] = ()  # unit test files that hold this lab's lesson (quick checks run only these)


# --- the labs, cheapest surface first ------------------------------------------

LABS: tuple[Lab, ...] = (
    Lab(
        "columns-reordered",
        "code",
        "easy",
        20,
        "A teammate tidied src/features.py so the columns are easier to read in a debugger. Since then a "
        "new customer's total_charges comes out equal to their monthly_charges, and the churn scores of "
        "long-standing customers look odd. Nothing crashed.",
        "total_charges",
        ("tests/unit/test_features.py",),
    ),
    Lab(
        "imputation-removed",
        "code",
        "easy",
        15,
        "After a clean-up of src/features.py, the service's error log shows failures for brand-new customers "
        "only (first month, nothing billed yet). Everyone else is scored as before.",
        "leaked NaN into the features",
        ("tests/unit/test_features.py",),
    ),
    Lab(
        "unknown-category-encoded",
        "code",
        "medium",
        20,
        "Marketing launched a 'three-year' plan. Nothing failed anywhere, but those customers get the "
        "churn scores of month-to-month customers, and finance asks why the forecast for the new plan is so grim.",
        "unknown contract",
        ("tests/unit/test_features.py",),
    ),
    Lab(
        "split-diverges",
        "code",
        "medium",
        25,
        "A change to src/train.py lets you try several training seeds. Since then the gate's AUC moves "
        "with the seed even though logistic regression ignores it, and a reviewer asks whether the gate "
        "still measures the holdout everyone tuned on.",
        "the gate would judge a different holdout",
        ("tests/unit/test_one_split.py", "tests/unit/test_train.py"),
    ),
    Lab(
        "leaky-column",
        "data",
        "easy",
        10,
        "The warehouse team added 'a few helpful columns' to the monthly export. The pipeline now has a "
        "column nobody asked for.",
        "only known after a customer churns",
    ),
    Lab(
        "yes-no-label",
        "data",
        "easy",
        10,
        "The export was migrated to a new BI tool. Training now dies with a conversion error on the label column.",
        "a Yes/No or multi-class status",
    ),
    Lab(
        "duplicated-customers",
        "data",
        "easy",
        15,
        "The export now joins the billing table to pick up invoices. The row count went up by a few "
        "hundred, though the number of customers did not change.",
        "a one-to-many join fanned rows out",
    ),
    Lab(
        "charges-in-cents",
        "data",
        "easy",
        15,
        "Billing moved to a new ledger. The monthly charges in the export look a hundred times "
        "more expensive than the price list.",
        "a unit changed (days, cents)",
    ),
    Lab(
        "truncated-export",
        "data",
        "easy",
        10,
        "Last night's export job hit a timeout and was retried. The file is much smaller than last month's.",
        "the export was truncated",
    ),
    Lab(
        "auc-on-stay-column",
        "model",
        "medium",
        20,
        "After a refactor of the evaluation code the gate rejects every model, including the one in "
        "production, whose predictions nobody has complained about.",
        "not good enough to ship",
    ),
    Lab(
        "calibration-check-removed",
        "model",
        "hard",
        45,
        "Recall went up after a change to training, and the gate passes. Customer success says the "
        "customers scored 0.7 churn far less than 70 % of the time. Someone also removed a gate check "
        "'that kept failing'. Write it back, then make the model pass it.",
        "the gate no longer runs ['calibration']",
    ),
    Lab(
        "leaky-charges",
        "model",
        "medium",
        25,
        "The new snapshot passes every data test and the model's AUC jumped to nearly 1.0. The product "
        "manager wants to ship it today.",
        "too good to be true",
    ),
    Lab(
        "shuffled-labels",
        "model",
        "medium",
        20,
        "The label now comes from a new CRM extract, joined on row number. The churn rate is exactly "
        "what it was, every data test is green, and the gate is red.",
        "not good enough to ship",
    ),
    Lab(
        "failing-slice",
        "model",
        "hard",
        35,
        "Overall AUC looks fine, but the account managers for one-year contracts say the scores are "
        "useless for their customers.",
        "fails one customer segment",
    ),
    Lab(
        "candidate-500s",
        "service",
        "easy",
        15,
        "The new candidate release (labs/release.json) passed every offline gate. Its service starts "
        "and answers /health, but the on-call channel reports errors from it.",
        "answered HTTP 5xx",
    ),
    Lab(
        "slower-candidate",
        "deploy",
        "medium",
        25,
        "The candidate release (labs/release.json) passed every offline gate and answers every request "
        "correctly, yet its rollout never gets past the first stage.",
        "candidate slower",
    ),
    Lab(
        "train-serve-skew",
        "deploy",
        "hard",
        40,
        "Finance now exports charges per billing quarter, and the model was retrained on that export. It "
        "passed its own gate with the same AUC as production. In shadow, the candidate disagrees with "
        "production on the very customers both models are sent.",
        "train/serve skew",
    ),
    Lab(
        "ab-decisions-differ",
        "deploy",
        "medium",
        25,
        "Product asked for a candidate that 'catches more churners'. Offline it is the same model, but "
        "in the A/B comparison the two variants disagree on many customers and the rollout aborts.",
        "churn-share shift",
    ),
)

BY_ID: dict[str, Lab] = {lab.id: lab for lab in LABS}
