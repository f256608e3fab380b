"""The naive impact of a combination: sizes, coverage, licences and the mixture plan.

`gather` collects what the Hub says about each member (cached answers first, fetching within a
time budget), `assess` turns that into the report. Both are plain functions: tests call them
without a request.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.orm import Session

from app.catalog.vocabulary import FACETS
from app.combinations.licenses import LicensedMember, LicenseVerdict, assess_licenses
from app.combinations.mixture import MixPlan, MixSource, PlanError, mixing_probabilities, plan_all
from app.combinations.sizes import Amount, SizeFacts, size_facts, sum_amounts
from app.database import kept_after_commit
from app.datasets import detail as hub_detail
from app.hub.cache import Cached, is_fresh, peek_many
from app.hub.client import HubClient
from app.models import Combination, CombinationMember, Dataset

SHA_RE = re.compile(r"^[0-9a-f]{40}$")
BIBTEX_RE = re.compile(r"@[A-Za-z]+\s*\{")


@dataclass
class MemberFacts:
    member: CombinationMember
    dataset: Dataset
    size: SizeFacts
    sha: str | None  # the commit the figures describe
    gated: bool
    citation: str | None
    problem: str | None = None  # why some figures are old or missing

    @property
    def repo_id(self) -> str:
        return self.dataset.repo_id


FetchFn = Callable[[Session, HubClient, str, timedelta], Cached]
HUB_ANSWERS: dict[str, tuple[str, FetchFn]] = {
    "detail": ("detail", hub_detail.details),
    "viewer": ("size", hub_detail.sizes),
    "info": ("info", hub_detail.columns),
}


def gather(
    session: Session,
    client: HubClient | None,
    combination: Combination,
    ttl: timedelta,
    budget_seconds: float = 4.0,
) -> list[MemberFacts]:
    """Facts for every member. Fresh cached answers are used as they are; others are fetched
    while the time budget lasts (None: never fetch, as on a shared read-only page), and after
    that the last cached answer, however old, stands in."""
    deadline = time.monotonic() + budget_seconds
    # Every member's cached answers (and card, for the citation) in one query, not five each.
    prefixes = [prefix for prefix, _ in HUB_ANSWERS.values()] + ["card"]
    cached = peek_many(
        session, [f"{p}:{m.dataset.repo_id}" for m in combination.members for p in prefixes]
    )
    facts = []
    for member in combination.members:
        dataset = member.dataset
        answers: dict[str, Cached] = {}
        problems: list[str] = []
        fetched = False
        for name, (prefix, fetch) in HUB_ANSWERS.items():
            answer = cached[f"{prefix}:{dataset.repo_id}"]
            if not is_fresh(answer, ttl) and client is not None and time.monotonic() < deadline:
                # Each answer is committed as it comes; the rest of the report stays loaded.
                with kept_after_commit(session):
                    answer = fetch(session, client, dataset.repo_id, ttl)
                fetched = True
            if answer.problem and answer.problem != "not fetched yet":
                problems.append(answer.problem)
            answers[name] = answer
        detail = answers["detail"].value or {}
        if fetched:
            session.refresh(dataset)  # a detail fetch rewrites the catalog row by statement
        sha = detail.get("sha") if isinstance(detail.get("sha"), str) else None
        facts.append(
            MemberFacts(
                member=member,
                dataset=dataset,
                size=size_facts(
                    dataset.num_rows,
                    dataset.num_bytes,
                    dataset.size_category,
                    detail,
                    answers["viewer"].value,
                    answers["info"].value,
                ),
                sha=sha if sha and SHA_RE.match(sha) else member.assessed_sha,
                gated=bool(detail.get("gated")) or dataset.gated,
                citation=_citation(answers["info"].value, cached[f"card:{dataset.repo_id}"]),
                problem=problems[0] if problems else None,
            )
        )
    return facts


def record_assessed_commits(session: Session, facts: list[MemberFacts]) -> None:
    """Remember the commit each member was assessed at: the manifest pins it."""
    changed = False
    for fact in facts:
        if fact.sha and fact.member.assessed_sha != fact.sha:
            fact.member.assessed_sha = fact.sha
            changed = True
    if changed:
        with kept_after_commit(session):  # nothing else changed: no need to read it again
            session.commit()


def _citation(info: object, card_answer: Cached) -> str | None:
    """The viewer's citation for the first configuration that has one, else a BibTeX entry
    from the cached card."""
    if isinstance(info, dict):
        for config in info.get("configs") or []:
            if isinstance(config, dict) and isinstance(config.get("citation"), str):
                if config["citation"].strip():
                    return config["citation"].strip()
    card = card_answer.value
    text = card.get("text") if isinstance(card, dict) else None
    return bibtex_from_text(text) if isinstance(text, str) else None


def bibtex_from_text(text: str) -> str | None:
    """The first BibTeX entry in a card: from "@kind{" to its balanced closing brace."""
    match = BIBTEX_RE.search(text)
    if not match:
        return None
    depth = 0
    for index in range(match.end() - 1, min(len(text), match.start() + 20_000)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[match.start() : index + 1]
    return None


# The report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    repo_id: str
    amount: Amount
    fraction: float | None  # of the estimated total; None when unknown
    estimated: bool


@dataclass(frozen=True)
class Totals:
    rows: Amount
    dataset_bytes: Amount
    download_bytes: Amount
    parquet_bytes: Amount
    rows_exact: int  # the part of the total known exactly
    rows_unknown: list[str]  # members with no row count at all
    rows_ranged: list[str]  # members known only by a range
    bytes_unknown: dict[str, list[str]]  # measure -> members without it


@dataclass(frozen=True)
class Coverage:
    facet: str
    label: str
    values: dict[str, list[str]]  # value -> the members that bring it


@dataclass
class MixReport:
    method: str
    temperature: float
    strategy: str
    seed: int
    probabilities: dict[str, float] = field(default_factory=dict)
    plans: dict[str, MixPlan] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)  # no size at all: cannot be planned
    estimated: list[str] = field(default_factory=list)  # planned on a range's middle
    problem: str | None = None


@dataclass
class Report:
    combination: Combination
    members: list[MemberFacts]
    totals: Totals
    row_shares: list[Share]
    coverage: list[Coverage]
    licences: LicenseVerdict
    mix: MixReport

    @property
    def problems(self) -> list[str]:
        return [f"{m.repo_id}: {m.problem}" for m in self.members if m.problem]


def assess(combination: Combination, members: list[MemberFacts]) -> Report:
    return Report(
        combination=combination,
        members=members,
        totals=totals(members),
        row_shares=shares([(m.repo_id, m.size.rows) for m in members]),
        coverage=coverage(members),
        licences=assess_licenses(
            [LicensedMember(m.repo_id, m.dataset.license, m.gated) for m in members]
        ),
        mix=mix(combination, members),
    )


def totals(members: list[MemberFacts]) -> Totals:
    measures = ("dataset_bytes", "download_bytes", "parquet_bytes")
    return Totals(
        rows=sum_amounts(m.size.rows for m in members),
        dataset_bytes=sum_amounts(m.size.dataset_bytes for m in members),
        download_bytes=sum_amounts(m.size.download_bytes for m in members),
        parquet_bytes=sum_amounts(m.size.parquet_bytes for m in members),
        rows_exact=sum(m.size.rows.low or 0 for m in members if m.size.rows.is_exact),
        rows_unknown=[m.repo_id for m in members if not m.size.rows.known],
        rows_ranged=[m.repo_id for m in members if m.size.rows.known and not m.size.rows.is_exact],
        bytes_unknown={
            measure: [m.repo_id for m in members if not getattr(m.size, measure).known]
            for measure in measures
        },
    )


def shares(amounts: list[tuple[str, Amount]]) -> list[Share]:
    """Each member's part of the total, on estimates; unknown members get no share at all
    (not a zero one)."""
    total = sum(a.estimate for _, a in amounts if a.estimate is not None)
    return [
        Share(
            repo_id,
            amount,
            (amount.estimate / total) if amount.estimate is not None and total > 0 else None,
            amount.known and not amount.is_exact,
        )
        for repo_id, amount in amounts
    ]


COVERAGE_FACETS = (
    ("task", "task_categories"),
    ("modality", "modalities"),
    ("language", "languages"),
)


def coverage(members: list[MemberFacts]) -> list[Coverage]:
    found = []
    for facet, attribute in COVERAGE_FACETS:
        values: dict[str, list[str]] = {}
        for member in members:
            for value in getattr(member.dataset, attribute) or []:
                values.setdefault(value, []).append(member.repo_id)
        ordered = dict(sorted(values.items(), key=lambda item: (-len(item[1]), item[0])))
        found.append(Coverage(facet, FACETS[facet], ordered))
    return found


def mix(combination: Combination, members: list[MemberFacts]) -> MixReport:
    report = MixReport(
        method=combination.mix_method,
        temperature=combination.temperature,
        strategy=combination.stopping_strategy,
        seed=combination.seed,
    )
    sources = []
    for member in members:
        rows = member.size.train_rows()
        if rows.estimate is None or rows.estimate < 1:
            report.left_out.append(member.repo_id)
            continue
        if not rows.is_exact:
            report.estimated.append(member.repo_id)
        sources.append(MixSource(member.repo_id, round(rows.estimate), member.member.weight))
    if not sources:
        return report
    try:
        probabilities = mixing_probabilities(sources, report.method, report.temperature)
        report.plans = plan_all(sources, report.method, report.temperature)
    except PlanError as error:
        report.problem = str(error)
        return report
    report.probabilities = {s.key: p for s, p in zip(sources, probabilities, strict=True)}
    return report
