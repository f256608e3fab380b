"""Bad input (#9): Hypothesis drives every route, form and card; counts what it did.

FUZZ_EXAMPLES is Hypothesis's max_examples for each test here: 15 by default (the pass of
`make test` and CI, well under a minute per database); `make fuzz` raises it so the tests run
at least 10,000 examples in all. At the end pytest prints, per route, how many examples ran
and which statuses came back; FUZZ_REPORT=path also writes that tally as JSON.

The form fuzzers of tests/auth/test_fuzz.py (the account forms, `next`) and
tests/combinations/test_fuzz.py (the mix form, names, manifests) stay where they are; this
folder covers the rest of the app the same way, route by route.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from pathlib import Path

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
TALLY: dict[str, Counter] = defaultdict(Counter)  # what was fuzzed -> Counter(status)


def fuzz_settings(**overrides) -> settings:
    values = dict(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )
    values.update(overrides)
    return settings(**values)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not TALLY:
        return
    write = terminalreporter.write_line
    total = sum(sum(counter.values()) for counter in TALLY.values())
    terminalreporter.section(f"fuzz: {total:,} examples (FUZZ_EXAMPLES={EXAMPLES} per test)")
    width = max(len(name) for name in TALLY)
    for name in sorted(TALLY):
        counter = TALLY[name]
        seen = ", ".join(f"{status}×{n}" for status, n in sorted(counter.items(), key=str))
        write(f"{name:<{width}}  {sum(counter.values()):>6}  {seen}")
    statuses = Counter()
    for counter in TALLY.values():
        statuses.update(counter)
    write("all: " + ", ".join(f"{status}×{n}" for status, n in sorted(statuses.items(), key=str)))
    report = os.environ.get("FUZZ_REPORT")
    if report:
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        Path(report).write_text(
            json.dumps(
                {
                    "examples_per_test": EXAMPLES,
                    "total": total,
                    "statuses": {str(k): v for k, v in statuses.items()},
                    "routes": {
                        name: {str(k): v for k, v in counter.items()}
                        for name, counter in sorted(TALLY.items())
                    },
                },
                indent=1,
            )
        )
