"""Plan a training mix the way ``datasets.interleave_datasets`` would build it, before downloading.

What the library does (huggingface/datasets, ``_interleave_map_style_datasets`` in
``src/datasets/arrow_dataset.py`` and ``CyclingMultiSourcesExamplesIterable`` /
``RandomlyCyclingMultiSourcesExamplesIterable`` in ``src/datasets/iterable_dataset.py``):

* Without probabilities it alternates round-robin. A map-style ``Dataset`` then takes exactly
  ``min(n)`` rows from each source under ``first_exhausted`` (``k * min(n)`` in all) and exactly
  ``max(n)`` rows from each, restarting the shorter ones, under ``all_exhausted``
  (``k * max(n)``). A streamed ``IterableDataset`` stops right after the row that exhausts the
  deciding source instead of finishing the round, so it can yield up to ``k - 1`` rows fewer.
  We report the map-style counts.
* With probabilities, each row's source is drawn at random (numpy ``Generator.choice``). After a
  source yields its last row it is marked exhausted and restarted; ``first_exhausted`` stops at
  the next draw once any source is exhausted, ``all_exhausted`` once every source has been.
  A source with probability 0 is never drawn, so it is never exhausted: ``all_exhausted`` then
  never ends (huggingface/datasets#7147). We leave such sources out of the stopping rule and set
  ``MixPlan.unbounded``.
* ``all_exhausted_without_replacement`` (newer releases) skips exhausted sources instead of
  restarting them, so every row is used exactly once; ``plan_mix`` accepts it, but it is not in
  ``STRATEGIES`` because older releases reject it.

With probabilities the counts are expected values from the law of large numbers: the mix stops
after about ``T = min_i n_i / p_i`` draws (``first_exhausted``) or ``T = max_i n_i / p_i``
(``all_exhausted``), and source ``j`` contributes ``p_j * T`` rows. The source that decides the
stop contributes exactly its size. The real random mix ends a little earlier under
``first_exhausted`` when several sources run out at nearly the same time (the shortfall is of the
order of the square root of the sizes), and a little later under ``all_exhausted``.

Arithmetic is exact (``fractions.Fraction``); each contribution is rounded to the nearest row,
halves up. Because ``p_j * T <= n_j`` under ``first_exhausted`` and ``>= n_j`` under
``all_exhausted``, rounding never takes a source over (or under) one pass. ``total_rows`` is the
sum of the rounded contributions, so shares add up to 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from numbers import Real

METHODS = {
    "proportional": "Proportional to size",
    "equal": "Equal",
    "temperature": "Temperature-scaled",
    "custom": "Custom weights",
}

STRATEGIES = {
    "first_exhausted": "Stop when the first dataset runs out (undersampling)",
    "all_exhausted": "Go on until every dataset has been used at least once (oversampling)",
}

WITHOUT_REPLACEMENT = "all_exhausted_without_replacement"
_ALL_STRATEGIES = (*STRATEGIES, WITHOUT_REPLACEMENT)

MAX_TEMPERATURE = 100.0
# A plan beyond this many rows comes from a near-zero probability; refuse it rather than overflow.
MAX_ROWS = 10**18
# numpy's Generator.choice refuses probabilities whose sum is further than this from 1.
_SUM_TOLERANCE = math.sqrt(2.220446049250313e-16)
# Two sources whose n/p agree this closely run out together; neither alone "stopped" the mix.
_TIE_TOLERANCE = Fraction(1, 10**9)


class PlanError(ValueError):
    """A mix that cannot be planned, with a message fit to show the user."""


@dataclass(frozen=True)
class MixSource:
    key: str
    rows: int
    weight: float | None = None


@dataclass(frozen=True)
class Contribution:
    key: str
    probability: float
    rows: int
    share: float
    epochs: float
    exhausted: bool


@dataclass(frozen=True)
class MixPlan:
    strategy: str
    total_rows: int
    contributions: tuple[Contribution, ...]
    # The source whose running out ends the mix (the first to, or the last to); None on a tie.
    stopped_by: str | None
    # True when the library would never stop: a source at probability 0 is never exhausted.
    unbounded: bool = False


def mixing_probabilities(
    sources: list[MixSource], method: str, temperature: float = 2.0
) -> list[float]:
    """Return each source's probability under ``method``; they sum to 1 up to float error.

    ``temperature`` follows the T5 / mT5 convention, ``p_i`` proportional to ``n_i ** (1 / T)``:
    T = 1 is proportional to size, larger T flattens towards equal (mT5's alpha is 1 / T).
    Unlike T5 we do not first cap each size at a limit K.
    """
    return [float(p) for p in _exact_probabilities(sources, method, temperature)]


def plan_mix(
    sources: list[MixSource], probabilities: Sequence[Real] | None, strategy: str
) -> MixPlan:
    """Return the expected rows, share and epochs of each source; ``None`` means round-robin."""
    _check_sources(sources)
    if strategy not in _ALL_STRATEGIES:
        raise PlanError(f"Unknown stopping strategy {strategy!r}.")
    sizes = [source.rows for source in sources]
    if probabilities is None:
        return _round_robin(sources, sizes, strategy)
    exact = _check_probabilities(sources, probabilities)
    drawn = [i for i, p in enumerate(exact) if p > 0]
    ratios = {i: Fraction(sizes[i]) / exact[i] for i in drawn}
    if strategy == "first_exhausted":
        draws = min(ratios.values())
        rows = [_round(exact[i] * draws) for i in range(len(sources))]
        deciding = [i for i in drawn if ratios[i] - draws <= draws * _TIE_TOLERANCE]
    else:
        draws = max(ratios.values())
        if draws > MAX_ROWS and strategy != WITHOUT_REPLACEMENT:
            slowest = sources[max(ratios, key=ratios.__getitem__)]
            raise PlanError(
                f"{slowest.key} has so small a weight that using it once would take more than "
                f"10^18 rows; give it a larger weight."
            )
        deciding = [i for i in drawn if draws - ratios[i] <= draws * _TIE_TOLERANCE]
        if strategy == WITHOUT_REPLACEMENT:
            rows = [sizes[i] if exact[i] > 0 else 0 for i in range(len(sources))]
        else:
            rows = [_round(exact[i] * draws) for i in range(len(sources))]
    # The deciding source contributes exactly its size (it is exhausted at that very draw).
    for i in deciding:
        rows[i] = sizes[i]
    return _plan(
        strategy,
        sources,
        [float(p) for p in exact],
        rows,
        stopped_by=sources[deciding[0]].key if len(deciding) == 1 else None,
        unbounded=strategy != "first_exhausted" and len(drawn) < len(sources),
    )


def plan_all(sources: list[MixSource], method: str, temperature: float = 2.0) -> dict[str, MixPlan]:
    """Return one plan per strategy in ``STRATEGIES`` for the weighting ``method``."""
    probabilities = _exact_probabilities(sources, method, temperature)
    return {strategy: plan_mix(sources, probabilities, strategy) for strategy in STRATEGIES}


def _exact_probabilities(
    sources: list[MixSource], method: str, temperature: float
) -> list[Fraction]:
    _check_sources(sources)
    if method == "proportional":
        weights = [Fraction(source.rows) for source in sources]
    elif method == "equal":
        weights = [Fraction(1)] * len(sources)
    elif method == "temperature":
        if not isinstance(temperature, Real) or not 0 < temperature <= MAX_TEMPERATURE:
            raise PlanError(
                f"The temperature must be a number above 0 and at most {MAX_TEMPERATURE:g}."
            )
        # Relative to the largest source, so n ** (1 / T) cannot overflow when T is below 1.
        top = math.log(max(source.rows for source in sources))
        weights = [
            Fraction(math.exp((math.log(source.rows) - top) / temperature)) for source in sources
        ]
    elif method == "custom":
        weights = [_custom_weight(source) for source in sources]
        if not any(weights):
            raise PlanError("At least one dataset needs a weight above 0.")
    else:
        raise PlanError(f"Unknown weighting method {method!r}.")
    total = sum(weights)
    return [weight / total for weight in weights]


def _custom_weight(source: MixSource) -> Fraction:
    weight = source.weight
    if weight is None:
        raise PlanError(f"{source.key} has no weight; give every dataset a weight.")
    if isinstance(weight, bool) or not isinstance(weight, Real) or not math.isfinite(weight):
        raise PlanError(f"The weight of {source.key} must be a finite number.")
    if weight < 0:
        raise PlanError(f"The weight of {source.key} cannot be negative.")
    return Fraction(weight)


def _check_sources(sources: list[MixSource]) -> None:
    if not sources:
        raise PlanError("Choose at least one dataset to mix.")
    seen: set[str] = set()
    for source in sources:
        if isinstance(source.rows, bool) or not isinstance(source.rows, int) or source.rows <= 0:
            raise PlanError(f"{source.key} has no rows to mix (its row count must be above 0).")
        if source.key in seen:
            raise PlanError(f"{source.key} is in the mix twice.")
        seen.add(source.key)


def _check_probabilities(sources: list[MixSource], probabilities: Sequence[Real]) -> list[Fraction]:
    if len(probabilities) != len(sources):
        raise PlanError(
            f"Got {len(probabilities)} probabilities for {len(sources)} datasets; "
            "give one per dataset."
        )
    exact = []
    for source, p in zip(sources, probabilities, strict=True):
        if isinstance(p, bool) or not isinstance(p, Real) or not math.isfinite(p) or p < 0:
            raise PlanError(f"The probability of {source.key} must be a number from 0 to 1.")
        exact.append(Fraction(p))
    total = sum(exact)
    if abs(total - 1) > _SUM_TOLERANCE:
        raise PlanError(f"The probabilities add up to {float(total):g}, not 1.")
    # Like numpy, which divides its cumulative sums by their total.
    return [p / total for p in exact]


def _round_robin(sources: list[MixSource], sizes: list[int], strategy: str) -> MixPlan:
    if strategy == "first_exhausted":
        rows = [min(sizes)] * len(sizes)
        deciding = [i for i, n in enumerate(sizes) if n == min(sizes)]
    else:
        rows = list(sizes) if strategy == WITHOUT_REPLACEMENT else [max(sizes)] * len(sizes)
        deciding = [i for i, n in enumerate(sizes) if n == max(sizes)]
    return _plan(
        strategy,
        sources,
        [1 / len(sources)] * len(sources),
        rows,
        stopped_by=sources[deciding[0]].key if len(deciding) == 1 else None,
        unbounded=False,
    )


def _plan(
    strategy: str,
    sources: list[MixSource],
    probabilities: list[float],
    rows: list[int],
    *,
    stopped_by: str | None,
    unbounded: bool,
) -> MixPlan:
    total = sum(rows)
    contributions = tuple(
        Contribution(
            key=source.key,
            probability=p,
            rows=count,
            share=count / total,
            epochs=count / source.rows,
            exhausted=count >= source.rows,
        )
        for source, p, count in zip(sources, probabilities, rows, strict=True)
    )
    return MixPlan(strategy, total, contributions, stopped_by, unbounded)


def _round(value: Fraction) -> int:
    """Nearest integer, halves up, on the exact value."""
    return math.floor(value + Fraction(1, 2))
