"""The verdict rule: Holm over the whole family, materiality, inconclusive and the rows needed;
its false-alarm rate and power checked by (seeded, small) simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpact.drift import compare_numbers
from mlpact.reference import summarise_numbers
from mlpact.verdict import Hypothesis, decide, holm, rows_needed


# --------------------------------------------------------------------------- Holm
@pytest.mark.parametrize(
    "p, weights, adjusted",
    [
        ([0.01, 0.04, 0.03, 0.005], None, [0.03, 0.06, 0.06, 0.02]),
        ([0.2, 0.5], None, [0.4, 0.5]),
        ([float("nan"), 0.01], None, [1.0, 0.02]),
        ([0.6, 0.9], None, [1.0, 1.0]),
        # weights 3:1 — the first is tested at 3/4 of alpha: p/w * total = 0.01/3*4, then 0.02/1*1
        ([0.01, 0.02], [3.0, 1.0], [0.01 / 3 * 4, 0.02]),
        ([], None, []),
    ],
)
def test_holm_adjusted_p_values(p: list[float], weights: list[float] | None, adjusted: list[float]) -> None:
    assert holm(p, weights) == pytest.approx(adjusted)


def test_holm_refuses_bad_weights() -> None:
    with pytest.raises(ValueError, match="holm: expected one positive weight per p-value"):
        holm([0.1, 0.2], [1.0])
    with pytest.raises(ValueError, match="holm: expected one positive weight per p-value"):
        holm([0.1], [0.0])


# --------------------------------------------------------------------------- decide
@pytest.mark.parametrize(
    "hypotheses, rows, needed, verdict, rejected",
    [
        ([Hypothesis("a", 0.001), Hypothesis("b", 0.5)], 500, 100, "retrain", ["a"]),
        ([Hypothesis("a", 0.001, material=False), Hypothesis("b", 0.5)], 500, 100, "reload", []),
        ([Hypothesis("a", 0.2), Hypothesis("b", 0.5)], 500, 100, "reload", []),
        ([Hypothesis("a", 0.2), Hypothesis("b", 0.5)], 80, 100, "inconclusive", []),
        ([Hypothesis("a", 0.001), Hypothesis("b", 0.5)], 80, 100, "retrain", ["a"]),  # found is found
        ([Hypothesis("a", 0.001)], 20, 100, "inconclusive", []),  # under min_rows: never judged
        ([Hypothesis("a", 0.2)], 10_000, None, "inconclusive", []),  # no batch is enough
        ([], 100, 50, "reload", []),
    ],
)
def test_decide(
    hypotheses: list[Hypothesis], rows: int, needed: int | None, verdict: str, rejected: list[str]
) -> None:
    judged = decide(hypotheses, alpha=0.01, rows=rows, min_rows=50, rows_needed=needed)
    assert judged.verdict == verdict and judged.rejected == rejected


def test_decide_explains_itself() -> None:
    immaterial = decide([Hypothesis("a", 1e-9, material=False)], alpha=0.01, rows=500, min_rows=50)
    assert immaterial.verdict == "reload" and immaterial.immaterial == ["a"]
    few = decide([Hypothesis("a", 0.3)], alpha=0.01, rows=80, min_rows=50, rows_needed=120)
    assert few.reasons == [
        "nothing found, but 80 rows are too few to rule out a change: the check needs 120 rows"
    ]
    tiny = decide([Hypothesis("a", 0.3)], alpha=0.01, rows=10, min_rows=50, rows_needed=120)
    assert tiny.reasons == ["10 rows are too few to judge: the check needs at least 120"]
    found = decide([Hypothesis("a", 1e-6, reason="a moved")], alpha=0.01, rows=10_000, min_rows=50)
    assert found.reasons == ["a moved"] and found.adjusted == {"a": pytest.approx(1e-6)}
    with pytest.raises(ValueError, match=r"decide: hypothesis names must be distinct, found \['a', 'a'\]"):
        decide([Hypothesis("a", 0.1), Hypothesis("a", 0.2)], alpha=0.01, rows=100)


def test_performance_weight_takes_half_the_rate() -> None:
    """With weight equal to the other tests together, a drop is tested at alpha / 2."""
    drifts = [Hypothesis(f"c{i}", 0.5) for i in range(30)]
    at = decide([*drifts, Hypothesis("performance", 0.004, weight=30)], alpha=0.01, rows=500)
    assert at.verdict == "retrain" and at.rejected == ["performance"]
    beyond = decide([*drifts, Hypothesis("performance", 0.006, weight=30)], alpha=0.01, rows=500)
    assert beyond.verdict == "reload"


# --------------------------------------------------------------------------- rows needed
def test_rows_needed_grows_with_the_family_and_shrinks_with_the_reference() -> None:
    few = rows_needed(reference_rows=1000, level=0.01 / 5 / 2, shift=0.5, power=0.8)
    many = rows_needed(reference_rows=1000, level=0.01 / 60 / 2, shift=0.5, power=0.8)
    assert few is not None and many is not None and few < many
    small = rows_needed(reference_rows=300, level=0.01 / 5 / 2, shift=0.5, power=0.8)
    assert small is not None and small > few
    assert rows_needed(reference_rows=50, level=0.01 / 60 / 2, shift=0.5, power=0.95) is None
    assert rows_needed(reference_rows=10_000, level=1e-3, shift=2.0, power=0.5) == 7


def test_rows_needed_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="rows_needed: expected 0 < level < 1"):
        rows_needed(reference_rows=100, level=0.0, shift=0.5, power=0.8)


def test_rows_needed_gives_the_promised_power_by_simulation() -> None:
    """A 0.5-sd shift in one column of a batch of the size rows_needed returns is caught at
    about the promised rate (200 seeded batches; the promise holds for normal data)."""
    rng = np.random.default_rng(5)
    level = 0.01 / 10 / 2
    ref = summarise_numbers(pd.Series(rng.normal(size=2000)), bins=10)
    m = rows_needed(reference_rows=2000, level=level, shift=0.5, power=0.8)
    assert m is not None
    caught = [
        compare_numbers("x", ref, pd.Series(rng.normal(0.5, size=m))).p_value <= 2 * level for _ in range(200)
    ]
    assert 0.7 <= float(np.mean(caught)) <= 0.97


# --------------------------------------------------------------------------- the whole rule, simulated
def test_family_false_alarm_rate_holds_by_simulation() -> None:
    """12 numeric columns (independent, of different shapes, some lumpy), a training split and a
    50-row batch drawn afresh from the same distribution each time: about 1% of 200 seeded
    checks at most end in retrain (the rule's promise; the bench measures it on real data)."""
    rng = np.random.default_rng(6)
    shapes = [
        lambda n: rng.normal(size=n),
        lambda n: rng.exponential(size=n),
        lambda n: rng.integers(0, 5, size=n).astype(float),
        lambda n: np.where(rng.random(n) < 0.8, 0.0, rng.lognormal(size=n)),
    ]
    columns = [shapes[i % 4] for i in range(12)]
    retrain = 0
    for _ in range(200):
        hypotheses = []
        for i, draw in enumerate(columns):
            ref = summarise_numbers(pd.Series(draw(300)), bins=10)
            found = compare_numbers(f"c{i}", ref, pd.Series(draw(50)), level=0.01 / 12)
            hypotheses.append(Hypothesis(f"c{i}", found.p_value))
        retrain += decide(hypotheses, alpha=0.01, rows=50, min_rows=50).verdict == "retrain"
    assert retrain <= 5  # 1% of 200 is 2; P(Binomial(200, 0.01) > 5) < 2%, and the seed fixes it


def test_one_shifted_column_among_30_is_caught_at_200_rows() -> None:
    rng = np.random.default_rng(7)
    refs = [summarise_numbers(pd.Series(rng.normal(size=500)), bins=10) for _ in range(30)]
    caught = 0
    for rep in range(40):
        batch = rng.normal(size=(200, 30))
        batch[:, rep % 30] += 0.5
        hypotheses = [
            Hypothesis(
                f"c{i}", compare_numbers(f"c{i}", ref, pd.Series(batch[:, i]), level=0.01 / 30).p_value
            )
            for i, ref in enumerate(refs)
        ]
        caught += decide(hypotheses, alpha=0.01, rows=200).verdict == "retrain"
    assert caught >= 34  # power about 0.95 in the bench; 34 of 40 leaves room for the seed
