"""Generate the committed snapshot data/churn.csv from a fixed seed.

The shape follows the public IBM Telco churn table (7,043 customers, ~26.5 %
churn, contract mix ~55/21/24, tenure 0-72, monthly 18-119, blank total for
new customers) so an honest model lands near the real table's holdout AUC.
Same seed => identical bytes, so anyone can rebuild and verify the snapshot:
GENERATED_SHA256 records what the default seed and size produce, and a test
holds the generator to it. The test checks the generator, not data/churn.csv,
so a fork that puts its own export there is not told to overwrite it.
"""

from __future__ import annotations

import argparse
import string
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from src import atomic, config, exits

N_CUSTOMERS = 7043
# sha256 of generate(SEED, N_CUSTOMERS) written as CSV: what data/churn.csv holds unless a fork replaced it
GENERATED_SHA256 = "734b08d2084c355d77a50ade1cf0d48b8bfe6eea6c196ee915ddc323974c389c"
CONTRACT_MIX = {"month-to-month": 0.55, "one-year": 0.21, "two-year": 0.24}
# Tenure shape per contract as Beta(a, b) over 0-72 months: month-to-month
# customers are mostly new, two-year customers mostly long-standing.
TENURE_BETA = {"month-to-month": (0.55, 1.6), "one-year": (1.3, 1.1), "two-year": (2.2, 0.7)}
NEW_CUSTOMER_SHARE = 0.0016  # Telco: 11 of 7,043 customers have tenure 0
NO_INTERNET_SHARE = 0.22  # the ~$20 plan without internet
# Churn log-odds: short tenure, month-to-month and high charges churn more.
CHURN_INTERCEPT = 0.2
CHURN_TENURE_PER_LOG_MONTH = -0.62
CHURN_PER_DOLLAR = 0.033
CHURN_CONTRACT = {"month-to-month": 1.05, "one-year": -0.5, "two-year": -1.7}
CHURN_NOISE_SD = 0.3  # unobserved causes, keeps the task realistically hard


def _customer_ids(rng: np.random.Generator, n: int) -> list[str]:
    """Telco-style ids ("7590-VHVEG"), unique by construction."""
    ids: list[str] = []
    seen: set[str] = set()
    letters = np.array(list(string.ascii_uppercase))
    while len(ids) < n:
        cid = f"{rng.integers(1000, 10000)}-{''.join(rng.choice(letters, 5))}"
        if cid not in seen:
            seen.add(cid)
            ids.append(cid)
    return ids


def generate(seed: int = config.SEED, n: int = N_CUSTOMERS) -> pd.DataFrame:
    """One draw of the synthetic customer base; pure function of (seed, n)."""
    rng = np.random.default_rng(seed)
    contract = rng.choice(list(CONTRACT_MIX), size=n, p=list(CONTRACT_MIX.values()))
    a = np.array([TENURE_BETA[c][0] for c in contract])
    b = np.array([TENURE_BETA[c][1] for c in contract])
    tenure = np.clip(np.ceil(rng.beta(a, b) * 72), 1, 72).astype(int)
    tenure[rng.random(n) < NEW_CUSTOMER_SHARE] = 0

    no_internet = rng.random(n) < NO_INTERNET_SHARE
    fiber = rng.random(n) < 0.56
    monthly = np.where(
        no_internet,
        rng.normal(20.5, 1.2, n),
        np.where(fiber, rng.normal(88.0, 11.0, n), rng.normal(58.0, 9.0, n)),
    )
    monthly = np.round(np.clip(monthly, 18.25, 118.75), 2)

    drift = 1.0 + rng.normal(0.0, 0.04, n)  # price changes over a customer's life
    total = np.maximum(np.round(tenure * monthly * drift, 2), monthly)
    total_charges = pd.Series(total, dtype="float64").where(tenure > 0)

    logit = (
        CHURN_INTERCEPT
        + CHURN_TENURE_PER_LOG_MONTH * np.log1p(tenure)
        + CHURN_PER_DOLLAR * (monthly - 65.0)
        + np.array([CHURN_CONTRACT[c] for c in contract])
        + rng.normal(0.0, CHURN_NOISE_SD, n)
    )
    churned = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)

    return pd.DataFrame(
        {
            "customer_id": _customer_ids(rng, n),
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total_charges,
            "contract": contract,
            "churned": churned,
        }
    )


def write(df: pd.DataFrame, out: Path) -> None:
    """Write byte-stable CSV (fixed float format, LF) via temp file + rename."""
    atomic.write_with(out, lambda path: df.to_csv(path, index=False, lineterminator="\n", float_format="%.2f"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the churn snapshot.")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: $CHURN_DATA)")
    parser.add_argument("--seed", type=int, default=config.SEED)
    parser.add_argument("--rows", type=int, default=N_CUSTOMERS)
    args = parser.parse_args(argv)
    if args.rows < 1:
        print("make_dataset: --rows must be at least 1", file=sys.stderr)
        return exits.REFUSED
    out = args.out or config.settings().churn_data
    df = generate(args.seed, args.rows)
    write(df, out)
    print(f"wrote {len(df)} customers, churn rate {df['churned'].mean():.3f} -> {out}")
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
