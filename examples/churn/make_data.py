"""Generate examples/churn/customers.csv: a small, seeded, realistic-looking table.

It mixes every kind of column mlpact handles: numbers, categories, booleans, dates, free text,
an id, and missing values. Run `python examples/churn/make_data.py` to regenerate it; the
output is deterministic, so the committed file only changes when this script does.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

PLANS = ["basic", "standard", "premium"]
REGIONS = ["north", "south", "east", "west"]
GOOD_NOTES = [
    "asked about adding a second line",
    "happy with the service and the support team",
    "upgraded the router, everything works fine",
    "called to thank the technician for the quick visit",
]
BAD_NOTES = [
    "complained about slow speed again and asked how to cancel",
    "billing error for the third month, very frustrated",
    "outage lasted two days, wants a refund or will leave",
    "asked for the cancellation fee and competitor prices",
]


def make(rows: int, seed: int) -> pd.DataFrame:
    """A churn table whose target depends on several columns, with noise and missing values."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(PLANS, rows, p=[0.5, 0.3, 0.2])
    region = rng.choice(REGIONS, rows)
    tenure = rng.integers(1, 72, rows)
    age = rng.normal(45, 14, rows).clip(18, 90).round()
    charges = (
        np.select([plan == "basic", plan == "standard"], [30.0, 55.0], 85.0) + rng.normal(0, 8, rows)
    ).round(2)
    partner = rng.random(rows) < 0.5
    signup = pd.Timestamp("2026-10-01") - pd.to_timedelta(tenure * 30, unit="D")
    risk = (
        -0.04 * tenure
        + 0.03 * (charges - 50)
        - 0.6 * partner
        + np.where(region == "south", 0.6, 0.0)
        + rng.normal(0, 0.8, rows)
    )
    churned = risk > np.quantile(risk, 0.7)
    tone = np.where(
        churned & (rng.random(rows) < 0.8), rng.choice(BAD_NOTES, rows), rng.choice(GOOD_NOTES, rows)
    )
    notes = [f"ticket {rng.integers(1000, 9999)}: {t}" for t in tone]
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{100000 + i}" for i in range(rows)],
            "signup_date": signup.strftime("%Y-%m-%d"),
            "age": age,
            "plan": plan,
            "region": region,
            "tenure_months": tenure,
            "monthly_charges": charges,
            "has_partner": partner,
            "support_notes": notes,
            "churned": np.where(churned, "yes", "no"),
        }
    )
    for column, share in (("age", 0.05), ("region", 0.04), ("monthly_charges", 0.03), ("support_notes", 0.1)):
        frame.loc[rng.random(rows) < share, column] = np.nan
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).with_name("customers.csv"))
    args = parser.parse_args()
    make(args.rows, args.seed).to_csv(args.output, index=False)
    print(f"wrote {args.rows} rows to {args.output}")


if __name__ == "__main__":
    main()
