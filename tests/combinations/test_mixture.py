"""The mixture planner: expected rows, shares and epochs of an interleave_datasets mix."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.combinations.mixture import (
    METHODS,
    STRATEGIES,
    WITHOUT_REPLACEMENT,
    MixSource,
    PlanError,
    mixing_probabilities,
    plan_all,
    plan_mix,
)

SMALL_BIG = [MixSource("org/small", 1000), MixSource("org/big", 3000)]


def rows_of(plan):
    return [c.rows for c in plan.contributions]


def epochs_of(plan):
    return [c.epochs for c in plan.contributions]


def simulate(sizes, probabilities, strategy, seed):
    """The loop in datasets' _interleave_map_style_datasets, drawing with Python's RNG."""
    rng = random.Random(seed)
    k = len(sizes)
    current, exhausted, counts = [0] * k, [False] * k, [0] * k
    stop = all if strategy == "all_exhausted" else any
    while not stop(exhausted):
        i = rng.choices(range(k), weights=probabilities)[0]
        counts[i] += 1
        current[i] += 1
        if current[i] >= sizes[i]:
            exhausted[i] = True
            current[i] = 0
    return counts


# Worked examples, computed by hand


def test_proportional_uses_every_row_once_under_both_strategies():
    # p = 1000/4000 = 0.25 and 3000/4000 = 0.75.
    assert mixing_probabilities(SMALL_BIG, "proportional") == [0.25, 0.75]
    plans = plan_all(SMALL_BIG, "proportional")
    assert list(plans) == list(STRATEGIES)
    for plan in plans.values():
        # n/p = 1000/0.25 = 4000 = 3000/0.75, so T = 4000 either way:
        # 0.25 * 4000 = 1000 and 0.75 * 4000 = 3000 rows.
        assert plan.total_rows == 4000
        assert rows_of(plan) == [1000, 3000]
        assert epochs_of(plan) == [1.0, 1.0]
        assert [c.share for c in plan.contributions] == [0.25, 0.75]
        assert all(c.exhausted for c in plan.contributions)
        # Both run out at the same expected moment: no single dataset ends the mix.
        assert plan.stopped_by is None
        assert not plan.unbounded


def test_equal_weights_undersample_or_oversample():
    assert mixing_probabilities(SMALL_BIG, "equal") == [0.5, 0.5]
    plans = plan_all(SMALL_BIG, "equal")

    first = plans["first_exhausted"]
    # T = min(1000/0.5, 3000/0.5) = 2000 draws: 1000 from each.
    assert first.total_rows == 2000
    assert rows_of(first) == [1000, 1000]
    assert epochs_of(first) == [1.0, pytest.approx(1 / 3)]
    assert [c.exhausted for c in first.contributions] == [True, False]
    assert [c.share for c in first.contributions] == [0.5, 0.5]
    assert first.stopped_by == "org/small"

    every = plans["all_exhausted"]
    # T = max(2000, 6000) = 6000 draws: 3000 from each; the small one is seen 3 times.
    assert every.total_rows == 6000
    assert rows_of(every) == [3000, 3000]
    assert epochs_of(every) == [3.0, 1.0]
    assert all(c.exhausted for c in every.contributions)
    assert every.stopped_by == "org/big"


def test_temperature_two_takes_square_roots():
    sources = [MixSource("a", 100), MixSource("b", 10_000)]
    # sqrt(100) = 10, sqrt(10000) = 100: p = 10/110 = 1/11 and 100/110 = 10/11.
    assert mixing_probabilities(sources, "temperature", 2.0) == pytest.approx([1 / 11, 10 / 11])
    plans = plan_all(sources, "temperature", 2.0)

    # first_exhausted: T = min(100 * 11, 10000 * 11/10) = min(1100, 11000) = 1100;
    # b gives 10/11 * 1100 = 1000 rows, a tenth of its 10000.
    first = plans["first_exhausted"]
    assert rows_of(first) == [100, 1000]
    assert first.total_rows == 1100
    assert epochs_of(first) == [1.0, 0.1]
    assert first.stopped_by == "a"

    # all_exhausted: T = 11000; a gives 1/11 * 11000 = 1000 rows, 10 passes over its 100.
    every = plans["all_exhausted"]
    assert rows_of(every) == [1000, 10_000]
    assert every.total_rows == 11_000
    assert epochs_of(every) == [10.0, 1.0]
    assert every.stopped_by == "b"


def test_temperature_three_takes_cube_roots():
    sources = [MixSource("a", 8), MixSource("b", 1000)]
    # 8^(1/3) = 2, 1000^(1/3) = 10: p = 2/12 = 1/6 and 10/12 = 5/6.
    assert mixing_probabilities(sources, "temperature", 3.0) == pytest.approx([1 / 6, 5 / 6])


def test_temperature_one_is_proportional_and_high_temperature_nears_equal():
    assert mixing_probabilities(SMALL_BIG, "temperature", 1.0) == pytest.approx([0.25, 0.75])
    # T = 100: 1000^(1/100) = 1.0715, 3000^(1/100) = 1.0833; p_small = 1.0715/2.1548 = 0.4973.
    p_small, p_big = mixing_probabilities(SMALL_BIG, "temperature", 100.0)
    assert p_small == pytest.approx(1000**0.01 / (1000**0.01 + 3000**0.01))
    assert 0.49 < p_small < 0.5 < p_big
    # Raising T always moves weight towards the smaller dataset.
    smalls = [mixing_probabilities(SMALL_BIG, "temperature", t)[0] for t in (1, 2, 5, 100)]
    assert smalls == sorted(smalls)


def test_temperature_below_one_favours_large_datasets_without_overflow():
    sources = [MixSource("a", 10), MixSource("b", 10**12)]
    # T = 0.01 would mean (10^12)^100 = 10^1200: computed relative to the largest instead.
    assert mixing_probabilities(sources, "temperature", 0.01) == [0.0, 1.0]


def test_custom_weights():
    sources = [MixSource("org/small", 1000, 3), MixSource("org/big", 3000, 1)]
    # p = 3/4 and 1/4.
    assert mixing_probabilities(sources, "custom") == [0.75, 0.25]
    plans = plan_all(sources, "custom")

    # first_exhausted: T = min(1000 / 0.75, 3000 / 0.25) = min(1333.33, 12000) = 4000/3;
    # big gives 0.25 * 4000/3 = 333.33, rounded to 333; total 1000 + 333 = 1333.
    first = plans["first_exhausted"]
    assert rows_of(first) == [1000, 333]
    assert first.total_rows == 1333
    assert epochs_of(first) == [1.0, 333 / 3000]
    assert first.contributions[0].share == 1000 / 1333

    # all_exhausted: T = 12000; small gives 0.75 * 12000 = 9000 rows, 9 passes.
    every = plans["all_exhausted"]
    assert rows_of(every) == [9000, 3000]
    assert epochs_of(every) == [9.0, 1.0]
    assert every.stopped_by == "org/big"


def test_custom_weights_need_not_sum_to_one_and_accept_ints():
    a = mixing_probabilities([MixSource("a", 5, 2), MixSource("b", 5, 6)], "custom")
    b = mixing_probabilities([MixSource("a", 5, 0.25), MixSource("b", 5, 0.75)], "custom")
    assert a == b == [0.25, 0.75]


def test_rounding_is_to_the_nearest_row_with_halves_up():
    sources = [MixSource("a", 3), MixSource("b", 100)]
    # p = 2/3, 1/3. T = min(3 / (2/3), 100 / (1/3)) = min(4.5, 300) = 4.5; b: 4.5/3 = 1.5 -> 2.
    plan = plan_mix(sources, [2 / 3, 1 / 3], "first_exhausted")
    assert rows_of(plan) == [3, 2]
    assert plan.total_rows == 5


def test_a_drawn_dataset_can_round_to_nothing():
    sources = [MixSource("a", 1), MixSource("b", 1)]
    # p = 3/4, 1/4. first_exhausted: T = min(4/3, 4) = 4/3; b: 1/4 * 4/3 = 1/3 -> 0.
    first = plan_mix(sources, [0.75, 0.25], "first_exhausted")
    assert rows_of(first) == [1, 0]
    assert first.contributions[1].epochs == 0.0
    assert first.contributions[1].share == 0.0
    assert not first.contributions[1].exhausted
    # all_exhausted: T = 4; a: 3/4 * 4 = 3.
    assert rows_of(plan_mix(sources, [0.75, 0.25], "all_exhausted")) == [3, 1]


def test_a_single_dataset_is_used_once():
    for plan in plan_all([MixSource("only", 7)], "equal").values():
        assert rows_of(plan) == [7]
        assert plan.stopped_by == "only"
        assert plan.contributions[0].share == 1.0


# Round-robin: interleave_datasets without probabilities


def test_round_robin_matches_the_library_documentation():
    sources = [MixSource("d1", 3), MixSource("d2", 4), MixSource("d3", 5)]
    # interleave_datasets docstring, d1=[0,1,2], d2=[10..13], d3=[20..24]:
    # first_exhausted -> [0, 10, 20, 1, 11, 21, 2, 12, 22]: 3 rounds of 3 = 3 * min = 9 rows.
    first = plan_mix(sources, None, "first_exhausted")
    assert rows_of(first) == [3, 3, 3]
    assert first.total_rows == 9
    assert epochs_of(first) == [1.0, 0.75, 0.6]
    assert first.stopped_by == "d1"
    assert [c.probability for c in first.contributions] == [1 / 3] * 3

    # all_exhausted -> [0, 10, 20, 1, 11, 21, 2, 12, 22, 0, 13, 23, 1, 10, 24]: 3 * max = 15 rows.
    documented = [0, 10, 20, 1, 11, 21, 2, 12, 22, 0, 13, 23, 1, 10, 24]
    counts = [sum(lo <= x < lo + 10 for x in documented) for lo in (0, 10, 20)]
    every = plan_mix(sources, None, "all_exhausted")
    assert rows_of(every) == counts == [5, 5, 5]
    assert every.total_rows == len(documented) == 15
    assert epochs_of(every) == [5 / 3, 1.25, 1.0]
    assert every.stopped_by == "d3"


def test_round_robin_ties_name_no_single_dataset():
    sources = [MixSource("a", 4), MixSource("b", 4), MixSource("c", 9)]
    assert plan_mix(sources, None, "first_exhausted").stopped_by is None
    assert plan_mix(sources, None, "all_exhausted").stopped_by == "c"


# Zero probabilities and the newer strategy


def test_zero_probability_contributes_nothing():
    sources = [MixSource("a", 1000, 1), MixSource("b", 3000, 0)]
    plans = plan_all(sources, "custom")
    first = plans["first_exhausted"]
    # p = 1, 0: T = 1000 / 1 = 1000; b is never drawn.
    assert rows_of(first) == [1000, 0]
    assert first.contributions[1].probability == 0.0
    assert not first.unbounded
    # The library would draw from a forever and never finish b: say so, and plan without b.
    every = plans["all_exhausted"]
    assert rows_of(every) == [1000, 0]
    assert every.unbounded
    assert every.stopped_by == "a"
    assert not every.contributions[1].exhausted


def test_without_replacement_uses_every_row_exactly_once():
    # The upstream test: d1=[0,1,2], d2=[10..13], d3=[20..22] without probabilities gives
    # [0, 10, 20, 1, 11, 21, 2, 12, 22, 13]: 3 + 4 + 3 = 10 rows.
    sources = [MixSource("d1", 3), MixSource("d2", 4), MixSource("d3", 3)]
    plan = plan_mix(sources, None, WITHOUT_REPLACEMENT)
    assert rows_of(plan) == [3, 4, 3]
    assert plan.total_rows == 10
    assert plan.stopped_by == "d2"
    # With p = 0.5, 0.5 on 1000/3000: 4000 rows, one pass each; big is expected to run out last.
    plan = plan_mix(SMALL_BIG, [0.5, 0.5], WITHOUT_REPLACEMENT)
    assert rows_of(plan) == [1000, 3000]
    assert epochs_of(plan) == [1.0, 1.0]
    assert plan.stopped_by == "org/big"
    assert WITHOUT_REPLACEMENT not in STRATEGIES


# Against a replay of the library's sampling loop


def test_expected_values_agree_with_the_library_loop():
    sizes, probabilities = [1000, 3000], [0.5, 0.5]
    for strategy in STRATEGIES:
        runs = [simulate(sizes, probabilities, strategy, seed) for seed in range(20)]
        mean = [sum(run[i] for run in runs) / len(runs) for i in range(2)]
        planned = rows_of(plan_mix(SMALL_BIG, probabilities, strategy))
        assert mean == pytest.approx(planned, rel=0.03)
        # The deciding dataset contributes exactly its size in every run, as planned.
        deciding = 0 if strategy == "first_exhausted" else 1
        assert all(run[deciding] == sizes[deciding] for run in runs)


def test_proportional_first_exhausted_ends_a_little_early_in_practice():
    # The plan is the law-of-large-numbers value (all 4000 rows); the random race between two
    # datasets that run out together ends a few rows earlier.
    totals = [sum(simulate([1000, 3000], [0.25, 0.75], "first_exhausted", s)) for s in range(20)]
    assert 0.95 * 4000 < sum(totals) / len(totals) < 4000


# Bad input


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        ([], "at least one dataset"),
        ([MixSource("a", 0)], "a has no rows"),
        ([MixSource("a", -5)], "a has no rows"),
        ([MixSource("a", 2.5)], "a has no rows"),
        ([MixSource("a", 1), MixSource("a", 2)], "a is in the mix twice"),
    ],
)
def test_bad_sources_are_refused(sources, message):
    for call in (
        lambda: mixing_probabilities(sources, "equal"),
        lambda: plan_mix(sources, None, "first_exhausted"),
        lambda: plan_all(sources, "proportional"),
    ):
        with pytest.raises(PlanError, match=message):
            call()


def test_unknown_method_is_refused():
    with pytest.raises(PlanError, match="Unknown weighting method 'bogus'"):
        mixing_probabilities(SMALL_BIG, "bogus")


@pytest.mark.parametrize("temperature", [0, -1, 100.5, math.nan, math.inf, "2"])
def test_bad_temperatures_are_refused(temperature):
    with pytest.raises(PlanError, match="temperature must be a number above 0 and at most 100"):
        mixing_probabilities(SMALL_BIG, "temperature", temperature)


def test_temperature_is_only_checked_when_used():
    assert mixing_probabilities(SMALL_BIG, "equal", temperature=-1) == [0.5, 0.5]


@pytest.mark.parametrize(
    ("weight", "message"),
    [
        (None, "org/big has no weight"),
        (-1.0, "weight of org/big cannot be negative"),
        (math.nan, "weight of org/big must be a finite number"),
        (math.inf, "weight of org/big must be a finite number"),
        ("3", "weight of org/big must be a finite number"),
    ],
)
def test_bad_custom_weights_are_refused(weight, message):
    sources = [MixSource("org/small", 1000, 1.0), MixSource("org/big", 3000, weight)]
    with pytest.raises(PlanError, match=message):
        mixing_probabilities(sources, "custom")


def test_all_zero_custom_weights_are_refused():
    sources = [MixSource("a", 10, 0), MixSource("b", 10, 0.0)]
    with pytest.raises(PlanError, match="At least one dataset needs a weight above 0"):
        plan_all(sources, "custom")


def test_a_near_zero_weight_that_would_need_absurdly_many_rows_is_refused():
    sources = [MixSource("a", 10**6, 1), MixSource("b", 10**6, 1e-20)]
    # all_exhausted: T = 10^6 / 10^-20 = 10^26 draws.
    with pytest.raises(PlanError, match="b has so small a weight"):
        plan_all(sources, "custom")
    assert rows_of(plan_mix(sources, [1, 1e-20], WITHOUT_REPLACEMENT)) == [10**6, 10**6]


@pytest.mark.parametrize(
    ("probabilities", "message"),
    [
        ([1.0], "Got 1 probabilities for 2 datasets"),
        ([0.5, 0.6], "add up to 1.1, not 1"),
        ([0, 0], "add up to 0, not 1"),
        ([1.5, -0.5], "probability of org/big must be a number from 0 to 1"),
        ([math.nan, 1.0], "probability of org/small must be"),
        ([None, 1.0], "probability of org/small must be"),
    ],
)
def test_bad_probabilities_are_refused(probabilities, message):
    with pytest.raises(PlanError, match=message):
        plan_mix(SMALL_BIG, probabilities, "first_exhausted")


def test_unknown_strategy_is_refused():
    with pytest.raises(PlanError, match="Unknown stopping strategy 'never'"):
        plan_mix(SMALL_BIG, None, "never")


def test_plan_error_is_a_value_error():
    assert issubclass(PlanError, ValueError)


# Properties

sizes = st.lists(st.integers(min_value=1, max_value=10**7), min_size=1, max_size=6)


@st.composite
def mixes(draw):
    """Sources with a weighting method: temperature from 1 to 100, custom weights above 0."""
    rows = draw(sizes)
    method = draw(st.sampled_from(sorted(METHODS)))
    weights = draw(
        st.lists(st.floats(min_value=0.01, max_value=100), min_size=len(rows), max_size=len(rows))
    )
    pairs = enumerate(zip(rows, weights, strict=True))
    sources = [MixSource(f"org/d{i}", n, w) for i, (n, w) in pairs]
    return sources, method, draw(st.floats(min_value=1, max_value=100))


@settings(max_examples=300, deadline=None)
@given(mixes())
def test_plans_are_consistent(mix):
    sources, method, temperature = mix
    probabilities = mixing_probabilities(sources, method, temperature)
    assert math.fsum(probabilities) == pytest.approx(1, abs=1e-12)
    assert all(p >= 0 for p in probabilities)

    plans = plan_all(sources, method, temperature)
    assert plans == plan_all(sources, method, temperature)
    first, every = plans["first_exhausted"], plans["all_exhausted"]
    for plan in plans.values():
        assert plan.total_rows == sum(rows_of(plan)) > 0
        assert math.fsum(c.share for c in plan.contributions) == pytest.approx(1)
        assert [c.probability for c in plan.contributions] == pytest.approx(probabilities)
        assert [c.key for c in plan.contributions] == [s.key for s in sources]
        if plan.stopped_by is not None:
            deciding = next(c for c in plan.contributions if c.key == plan.stopped_by)
            assert deciding.epochs == 1.0
    # Rounding never pushes a dataset past one pass (first) or short of one (all).
    assert all(c.epochs <= 1 for c in first.contributions)
    assert all(c.epochs >= 1 for c in every.contributions if c.probability > 0)
    assert first.total_rows <= every.total_rows
    if method == "proportional":
        assert rows_of(first) == rows_of(every) == [s.rows for s in sources]


@settings(max_examples=200, deadline=None)
@given(sizes)
def test_round_robin_counts(rows):
    sources = [MixSource(f"org/d{i}", n) for i, n in enumerate(rows)]
    first = plan_mix(sources, None, "first_exhausted")
    every = plan_mix(sources, None, "all_exhausted")
    assert first.total_rows == len(rows) * min(rows)
    assert every.total_rows == len(rows) * max(rows)
    assert all(c.epochs <= 1 for c in first.contributions)
    assert all(c.epochs >= 1 for c in every.contributions)
