"""The licence compatibility verdict for a combination of datasets.

The licence terms are data (`data/licenses.json`, explained in `data/LICENSES.md`); this module
only applies the rules written down there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

KINDS = (
    "conflict",
    "missing",
    "unknown",
    "non-commercial",
    "research-only",
    "no-derivatives",
    "share-alike",
    "use-restrictions",
    "gated",
    "attribution",
)
SEVERITIES = ("blocker", "caution", "info")


@dataclass(frozen=True)
class LicenseTerms:
    """One entry of the licence table."""

    id: str
    name: str
    url: str | None
    commercial: bool | None
    share_alike: bool
    no_derivatives: bool
    research_only: bool
    attribution: bool
    note: str | None
    use_restrictions: bool = False

    @property
    def terms_known(self) -> bool:
        return self.commercial is not None


@dataclass(frozen=True)
class LicensedMember:
    """A dataset of the combination, as far as its licence goes."""

    repo_id: str
    license: str | None
    gated: bool


@dataclass(frozen=True)
class LicenseConcern:
    kind: str
    severity: str
    repo_ids: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class LicenseVerdict:
    verdict: str
    headline: str
    commercial_use: bool | None
    concerns: tuple[LicenseConcern, ...]
    members: tuple[tuple[LicensedMember, LicenseTerms | None], ...]


@dataclass(frozen=True)
class _Table:
    licenses: dict[str, LicenseTerms]
    aliases: dict[str, str]
    # For each licence, itself and the licences its material may be redistributed under.
    # Deliberately not transitive: CC allows BY-SA 3.0 -> 4.0 and BY-SA 4.0 -> GPL-3.0, but not
    # BY-SA 3.0 -> GPL-3.0.
    compatible: dict[str, frozenset[str]]
    sources: tuple[tuple[str, str], ...]


@cache
def _table() -> _Table:
    text = resources.files("app.combinations").joinpath("data", "licenses.json").read_text("utf-8")
    raw = json.loads(text)
    licenses = {key.lower(): _terms(key.lower(), entry) for key, entry in raw["licenses"].items()}
    aliases = {key.lower(): value.lower() for key, value in raw.get("aliases", {}).items()}
    compatible = {key: {key} for key in licenses}
    for edge in raw.get("share_alike_compatibility", []):
        compatible[edge["from"].lower()].add(edge["to"].lower())
    sources = tuple((s["name"], s["url"]) for s in raw.get("sources", []))
    return _Table(
        licenses, aliases, {key: frozenset(ids) for key, ids in compatible.items()}, sources
    )


def _terms(license_id: str, entry: dict[str, Any]) -> LicenseTerms:
    attributes = entry["attributes"]
    return LicenseTerms(
        id=license_id,
        name=entry["name"],
        url=entry.get("url"),
        commercial=attributes["commercial"],
        share_alike=attributes["share_alike"],
        no_derivatives=attributes["no_derivatives"],
        research_only=attributes["research_only"],
        attribution=attributes["attribution"],
        note=entry.get("note"),
        use_restrictions=attributes.get("use_restrictions", False),
    )


def license_ids() -> list[str]:
    """Every licence id in the table, sorted."""
    return sorted(_table().licenses)


def license_sources() -> list[tuple[str, str]]:
    """The (name, url) of each source the table relies on."""
    return list(_table().sources)


def _normal(license_id: str | None) -> str:
    return (license_id or "").strip().lower()


def license_terms(license_id: str | None) -> LicenseTerms | None:
    """The table entry for a licence id, case-insensitive; None when missing or not in the table."""
    key = _normal(license_id)
    table = _table()
    return table.licenses.get(table.aliases.get(key, key))


def assess_licenses(members: list[LicensedMember]) -> LicenseVerdict:
    """The compatibility verdict for using the members together as one training mix."""
    unique: dict[str, LicensedMember] = {}
    for member in members:
        unique.setdefault(member.repo_id, member)
    pairs = tuple((m, license_terms(m.license)) for m in unique.values())
    if not pairs:
        return LicenseVerdict("unknown", "There are no datasets to assess.", None, (), ())

    concerns: list[LicenseConcern] = []
    missing = [m for m, t in pairs if not _normal(m.license)]
    unknown = [(m, t) for m, t in pairs if _normal(m.license) and (t is None or not t.terms_known)]
    known = [(m, t) for m, t in pairs if t is not None and t.terms_known]

    if missing:
        concerns.append(_concern("missing", "caution", missing, _missing_message(missing)))
    if unknown:
        concerns.append(
            _concern("unknown", "caution", [m for m, _ in unknown], _unknown_message(unknown))
        )

    research = [(m, t) for m, t in known if t.research_only]
    non_commercial = [(m, t) for m, t in known if t.commercial is False and not t.research_only]
    if non_commercial:
        names = _labelled(non_commercial)
        verb = "is" if len(non_commercial) == 1 else "are"
        concerns.append(
            _concern(
                "non-commercial",
                "caution",
                [m for m, _ in non_commercial],
                f"{names} {verb} licensed for non-commercial use only: "
                "the combination cannot be used commercially.",
            )
        )
    if research:
        names = _labelled(research)
        verb = "is" if len(research) == 1 else "are"
        concerns.append(
            _concern(
                "research-only",
                "caution",
                [m for m, _ in research],
                f"{names} {verb} licensed for research use only: the combination may be used "
                "for research, not commercially or in a product.",
            )
        )
    no_derivatives = [(m, t) for m, t in known if t.no_derivatives]
    if no_derivatives:
        names = _labelled(no_derivatives)
        verb = "forbids" if len(no_derivatives) == 1 else "forbid"
        concerns.append(
            _concern(
                "no-derivatives",
                "caution",
                [m for m, _ in no_derivatives],
                f"{names} {verb} sharing modified versions (no derivatives): you may use the "
                "combination, but not redistribute a remixed or modified dataset made from it.",
            )
        )
    concerns.extend(_share_alike_concerns(known))
    restricted = [(m, t) for m, t in known if t.use_restrictions]
    if restricted:
        names = _labelled(restricted)
        concerns.append(
            _concern(
                "use-restrictions",
                "caution",
                [m for m, _ in restricted],
                f"The {'licence' if len(restricted) == 1 else 'licences'} of {names} "
                f"{'restricts' if len(restricted) == 1 else 'restrict'} what the data and anything "
                "made from it may be used for: those restrictions apply to the combination and "
                "must be passed on with anything you share.",
            )
        )
    gated = [m for m, _ in pairs if m.gated]
    if gated:
        names = _join(m.repo_id for m in gated)
        verb = "is" if len(gated) == 1 else "are"
        concerns.append(
            _concern(
                "gated",
                "caution",
                gated,
                f"{names} {verb} gated: access must be requested on the Hub for each dataset, "
                "and the terms accepted there may add conditions to the licence.",
            )
        )
    credited = [(m, t) for m, t in known if t.attribution]
    if credited:
        concerns.append(
            _concern(
                "attribution",
                "info",
                [m for m, _ in credited],
                f"Credit must be given to the sources: {_labelled(credited)}.",
            )
        )

    concerns.sort(key=lambda c: (SEVERITIES.index(c.severity), KINDS.index(c.kind)))
    if any(t.commercial is False for _, t in known):
        commercial_use: bool | None = False
    elif missing or unknown:
        commercial_use = None
    else:
        commercial_use = True
    verdict = _verdict(concerns)
    headline = _headline(verdict, commercial_use, concerns, len(missing) + len(unknown), len(pairs))
    return LicenseVerdict(verdict, headline, commercial_use, tuple(concerns), pairs)


def _share_alike_concerns(known: list[tuple[LicensedMember, LicenseTerms]]) -> list[LicenseConcern]:
    """Share-alike licences bind shared adaptations to one licence: find it, or the conflict."""
    copyleft = [(m, t) for m, t in known if t.share_alike]
    if not copyleft:
        return []
    table = _table()
    ids = list(dict.fromkeys(t.id for _, t in copyleft))
    common = frozenset.intersection(*(table.compatible[i] for i in ids))
    if not common:
        verb = "is" if len(ids) == 1 else "are"
        return [
            _concern(
                "conflict",
                "blocker",
                [m for m, _ in copyleft],
                f"{_labelled(copyleft)} {verb} under share-alike licences that are not known to "
                "be compatible: the combined data cannot be redistributed under one licence. "
                "Share-alike conditions apply when the data is shared, not to private use.",
            )
        ]
    # Prefer a licence a member already has, then the alphabetically first, for a stable answer.
    target_id = next((i for i in ids if i in common), min(common))
    target = table.licenses[target_id]
    clashing = [(m, t) for m, t in known if not t.share_alike and _cannot_carry(target, t)]
    if clashing:
        return [
            _concern(
                "conflict",
                "blocker",
                [m for m, _ in copyleft + clashing],
                f"{_labelled(copyleft)} require{'s' if len(copyleft) == 1 else ''} redistributed "
                f"adaptations to be licensed under {target.name}, which cannot carry the "
                f"restrictions of {_labelled(clashing)}: the combined data cannot be "
                "redistributed under one licence. Share-alike conditions apply when the data is "
                "shared, not to private use.",
            )
        ]
    if len(ids) == 1:
        message = (
            f"{_labelled(copyleft)} {'is' if len(copyleft) == 1 else 'are'} licensed "
            f"share-alike: if you redistribute the combined data, it must be under {target.name}."
        )
    else:
        message = (
            f"{_labelled(copyleft)} are under share-alike licences known to be compatible: "
            f"if you redistribute the combined data, it must be under {target.name}."
        )
    return [_concern("share-alike", "caution", [m for m, _ in copyleft], message)]


def _cannot_carry(target: LicenseTerms, terms: LicenseTerms) -> bool:
    """A share-alike licence forbids further restrictions, so it cannot absorb narrower terms."""
    return (
        (terms.commercial is False and target.commercial is not False)
        or (terms.research_only and not target.research_only)
        or terms.use_restrictions
    )


def _verdict(concerns: list[LicenseConcern]) -> str:
    if any(c.severity == "blocker" for c in concerns):
        return "incompatible"
    if any(c.kind in ("missing", "unknown") for c in concerns):
        return "unknown"
    if any(c.severity == "caution" for c in concerns):
        return "conditions"
    return "compatible"


def _headline(
    verdict: str,
    commercial_use: bool | None,
    concerns: list[LicenseConcern],
    unknown_count: int,
    total: int,
) -> str:
    kinds = {c.kind for c in concerns}
    not_commercial = "; not for commercial use." if commercial_use is False else "."
    if verdict == "incompatible":
        return "The licences conflict: the combined data cannot be redistributed as one dataset" + (
            not_commercial
        )
    if verdict == "unknown":
        some = "every dataset" if unknown_count == total else f"{unknown_count} of {total} datasets"
        return f"The licence terms of {some} are unknown: check them before use" + not_commercial
    if verdict == "conditions":
        if "research-only" in kinds:
            return "Usable for research only; not for commercial use."
        if commercial_use is False:
            return "Usable for research and other non-commercial purposes; not for commercial use."
        return "Usable, including commercially, under the conditions below."
    if "attribution" in kinds:
        return "Compatible: usable for any purpose, including commercially, crediting the sources."
    return "Compatible: usable for any purpose, including commercially."


def _concern(
    kind: str, severity: str, members: Iterable[LicensedMember], message: str
) -> LicenseConcern:
    return LicenseConcern(kind, severity, tuple(dict.fromkeys(m.repo_id for m in members)), message)


def _missing_message(missing: list[LicensedMember]) -> str:
    names = _join(m.repo_id for m in missing)
    verb = "declares" if len(missing) == 1 else "declare"
    return (
        f"{names} {verb} no licence: without one there is no stated permission to use or "
        "share the data; ask the owner or leave it out."
    )


def _unknown_message(unknown: list[tuple[LicensedMember, LicenseTerms | None]]) -> str:
    names = _join(f"{m.repo_id} ({m.license.strip()})" for m, _ in unknown if m.license)
    return (
        f"The licence terms of {names} are not known: read each dataset card before using "
        "the combination."
    )


def _labelled(pairs: list[tuple[LicensedMember, LicenseTerms]]) -> str:
    return _join(f"{m.repo_id} ({t.id})" for m, t in pairs)


def _join(names: Iterable[str]) -> str:
    items = list(names)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
