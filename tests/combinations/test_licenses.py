"""The licence table and the compatibility verdict for a combination."""

from __future__ import annotations

import json
import os
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.combinations.licenses import (
    KINDS,
    SEVERITIES,
    LicensedMember,
    LicenseVerdict,
    assess_licenses,
    license_ids,
    license_sources,
    license_terms,
)

# The table of https://huggingface.co/docs/hub/repositories-licenses (hub-docs, 2024).
HUB_LICENSE_IDS = """
apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear
c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0
cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0
cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl
ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1
lgpl-3.0 isc lppl-1.3c ms-pl mpl-2.0 odc-by odbl openrail++ osl-3.0 postgresql ofl-1.1 ncsa
unlicense zlib pddl lgpl-lr deepfloyd-if-license llama2 gemma unknown other
""".split()

ATTRIBUTES = {
    "commercial": (bool, type(None)),
    "share_alike": (bool,),
    "no_derivatives": (bool,),
    "research_only": (bool,),
    "attribution": (bool,),
}


def member(repo_id: str, license: str | None, gated: bool = False) -> LicensedMember:
    return LicensedMember(repo_id, license, gated)


def kinds(verdict: LicenseVerdict) -> dict[str, tuple[str, ...]]:
    return {c.kind: c.repo_ids for c in verdict.concerns}


def concern(verdict: LicenseVerdict, kind: str):
    (found,) = [c for c in verdict.concerns if c.kind == kind]
    return found


def raw_table() -> dict:
    path = resources.files("app.combinations").joinpath("data", "licenses.json")
    return json.loads(path.read_text("utf-8"))


def test_permissive_only_is_compatible_and_commercial():
    verdict = assess_licenses([member("a/mit", "mit"), member("b/apache", "apache-2.0")])
    assert verdict.verdict == "compatible"
    assert verdict.commercial_use is True
    assert {c.severity for c in verdict.concerns} == {"info"}
    assert concern(verdict, "attribution").repo_ids == ("a/mit", "b/apache")
    assert "commercially" in verdict.headline


def test_public_domain_only_needs_no_credit():
    verdict = assess_licenses([member("a/cc0", "cc0-1.0"), member("b/pd", "pddl")])
    assert verdict.verdict == "compatible"
    assert verdict.concerns == ()


def test_one_non_commercial_member_rules_out_commercial_use_and_is_named():
    verdict = assess_licenses([member("a/mit", "mit"), member("ccdv/arxiv", "cc-by-nc-4.0")])
    assert verdict.verdict == "conditions"
    assert verdict.commercial_use is False
    found = concern(verdict, "non-commercial")
    assert found.severity == "caution"
    assert found.repo_ids == ("ccdv/arxiv",)
    assert "ccdv/arxiv" in found.message and "a/mit" not in found.message
    assert "not for commercial use" in verdict.headline


def test_cc_by_sa_3_with_gpl_3_is_a_conflict_naming_both():
    verdict = assess_licenses(
        [member("a/mit", "mit"), member("w/wiki", "cc-by-sa-3.0"), member("g/code", "gpl-3.0")]
    )
    assert verdict.verdict == "incompatible"
    first = verdict.concerns[0]
    assert (first.kind, first.severity) == ("conflict", "blocker")
    assert first.repo_ids == ("w/wiki", "g/code")
    assert "w/wiki" in first.message and "g/code" in first.message


def test_cc_by_sa_4_may_go_under_gpl_3_as_creative_commons_declared():
    verdict = assess_licenses([member("w/wiki", "cc-by-sa-4.0"), member("g/code", "gpl-3.0")])
    assert verdict.verdict == "conditions"
    found = concern(verdict, "share-alike")
    assert found.repo_ids == ("w/wiki", "g/code")
    assert "GNU General Public License v3.0" in found.message
    assert "conflict" not in kinds(verdict)


def test_compatibility_is_not_transitive():
    """BY-SA 3.0 may become 4.0 and 4.0 may become GPL-3.0, yet 3.0 may not become GPL-3.0."""
    verdict = assess_licenses(
        [member("a", "cc-by-sa-3.0"), member("b", "cc-by-sa-4.0"), member("c", "gpl-3.0")]
    )
    assert verdict.verdict == "incompatible"
    assert kinds(verdict)["conflict"] == ("a", "b", "c")


def test_non_commercial_share_alike_with_share_alike_is_a_conflict():
    verdict = assess_licenses([member("a", "cc-by-nc-sa-4.0"), member("b", "CC-BY-SA-4.0")])
    assert verdict.verdict == "incompatible"
    assert kinds(verdict)["conflict"] == ("a", "b")
    assert verdict.commercial_use is False


def test_share_alike_cannot_absorb_a_non_commercial_member():
    verdict = assess_licenses([member("sa", "cc-by-sa-4.0"), member("nc", "cc-by-nc-4.0")])
    assert verdict.verdict == "incompatible"
    assert kinds(verdict)["conflict"] == ("sa", "nc")


def test_share_alike_cannot_absorb_use_restrictions():
    verdict = assess_licenses([member("g", "gpl-3.0"), member("sd", "creativeml-openrail-m")])
    assert verdict.verdict == "incompatible"
    assert kinds(verdict)["conflict"] == ("g", "sd")


def test_non_commercial_share_alike_absorbs_a_non_commercial_member():
    verdict = assess_licenses([member("sa", "cc-by-nc-sa-4.0"), member("nc", "cc-by-nc-4.0")])
    assert verdict.verdict == "conditions"
    assert kinds(verdict)["share-alike"] == ("sa",)


def test_older_share_alike_versions_move_to_the_newer_one():
    verdict = assess_licenses([member("old", "cc-by-sa-3.0"), member("new", "cc-by-sa-4.0")])
    assert verdict.verdict == "conditions"
    assert "Creative Commons Attribution Share Alike 4.0" in concern(verdict, "share-alike").message


def test_a_single_share_alike_licence_must_be_carried():
    verdict = assess_licenses(
        [member("a", "cc-by-sa-4.0"), member("b", "cc-by-sa-4.0"), member("c", "mit")]
    )
    assert verdict.verdict == "conditions"
    assert verdict.commercial_use is True
    found = concern(verdict, "share-alike")
    assert (found.severity, found.repo_ids) == ("caution", ("a", "b"))
    assert "Creative Commons Attribution Share Alike 4.0" in found.message


def test_missing_licence_makes_the_verdict_unknown():
    verdict = assess_licenses([member("a", "mit"), member("b", None), member("c", " ")])
    assert verdict.verdict == "unknown"
    assert verdict.commercial_use is None
    found = concern(verdict, "missing")
    assert (found.severity, found.repo_ids) == ("caution", ("b", "c"))
    assert "unknown" not in kinds(verdict)


def test_other_unknown_and_unlisted_licences_are_unknown_terms():
    verdict = assess_licenses(
        [
            member("a", "mit"),
            member("b", "other"),
            member("c", "unknown"),
            member("d", "my-own-licence"),
            member("e", "cc"),
        ]
    )
    assert verdict.verdict == "unknown"
    assert verdict.commercial_use is None
    found = concern(verdict, "unknown")
    assert (found.severity, found.repo_ids) == ("caution", ("b", "c", "d", "e"))
    assert "my-own-licence" in found.message
    assert "4 of 5" in verdict.headline


def test_a_known_non_commercial_member_still_rules_out_commercial_use_among_unknowns():
    verdict = assess_licenses([member("a", "other"), member("b", "cc-by-nc-nd-4.0")])
    assert verdict.verdict == "unknown"
    assert verdict.commercial_use is False


def test_a_blocker_wins_over_unknown_terms():
    verdict = assess_licenses(
        [member("a", "cc-by-sa-4.0"), member("b", "odbl"), member("c", "unknown")]
    )
    assert verdict.verdict == "incompatible"


def test_gated_member_is_noted():
    verdict = assess_licenses([member("a", "mit"), member("b", "apache-2.0", gated=True)])
    assert verdict.verdict == "conditions"
    found = concern(verdict, "gated")
    assert found.repo_ids == ("b",)
    assert "request" in found.message


def test_research_only_member():
    verdict = assess_licenses([member("a", "mit"), member("r", "deepfloyd-if-license")])
    assert verdict.commercial_use is False
    assert kinds(verdict)["research-only"] == ("r",)
    assert "non-commercial" not in kinds(verdict)
    assert "research only" in verdict.headline


def test_no_derivatives_member():
    verdict = assess_licenses([member("a", "mit"), member("nd", "cc-by-nd-4.0")])
    assert verdict.verdict == "conditions"
    assert verdict.commercial_use is True
    assert kinds(verdict)["no-derivatives"] == ("nd",)


def test_responsible_ai_licences_carry_use_restrictions():
    verdict = assess_licenses([member("a", "mit"), member("sd", "creativeml-openrail-m")])
    assert verdict.verdict == "conditions"
    assert verdict.commercial_use is True
    assert kinds(verdict)["use-restrictions"] == ("sd",)


def test_concerns_come_blockers_first_then_cautions_then_info():
    verdict = assess_licenses(
        [
            member("a", "cc-by-sa-3.0", gated=True),
            member("b", "gpl-3.0"),
            member("c", "cc-by-nc-4.0"),
        ]
    )
    order = [SEVERITIES.index(c.severity) for c in verdict.concerns]
    assert order == sorted(order)
    assert verdict.concerns[0].severity == "blocker"
    assert verdict.concerns[-1].kind == "attribution"


def test_nothing_to_assess():
    verdict = assess_licenses([])
    assert verdict.verdict == "unknown"
    assert verdict.concerns == () and verdict.members == ()
    assert "no datasets" in verdict.headline.lower()


def test_members_keep_their_order_and_terms_and_duplicates_count_once():
    members = [member("b", "MIT"), member("a", None), member("b", "gpl-3.0")]
    verdict = assess_licenses(members)
    assert [(m.repo_id, t.id if t else None) for m, t in verdict.members] == [
        ("b", "mit"),
        ("a", None),
    ]
    assert assess_licenses(members) == verdict


def test_lookup_is_case_insensitive():
    assert license_terms("CC-BY-4.0") == license_terms("cc-by-4.0")
    assert license_terms(" MIT ").id == "mit"
    assert license_terms("Apache License 2.0").id == "apache-2.0"
    assert license_terms(None) is None
    assert license_terms("") is None
    assert license_terms("not-a-licence") is None


def test_table_entries_have_a_url_and_every_attribute():
    raw = raw_table()
    assert raw["licenses"]
    for license_id, entry in raw["licenses"].items():
        assert license_id == license_id.lower(), license_id
        assert entry["name"], license_id
        assert entry["url"].startswith("https://"), license_id
        for name, types in ATTRIBUTES.items():
            assert isinstance(entry["attributes"][name], types), (license_id, name)
        terms = license_terms(license_id)
        assert terms is not None and terms.url == entry["url"]
    assert license_terms("unknown").commercial is None
    assert license_terms("other").commercial is None


def test_table_aliases_and_compatibilities_point_into_the_table():
    raw = raw_table()
    for alias, target in raw["aliases"].items():
        assert target in raw["licenses"], alias
    for edge in raw["share_alike_compatibility"]:
        for end in (edge["from"], edge["to"]):
            assert raw["licenses"][end]["attributes"]["share_alike"], edge
        assert edge["source"].startswith("https://"), edge


def test_table_names_its_sources():
    sources = license_sources()
    assert len(sources) >= 5
    assert all(name and url.startswith("https://") for name, url in sources)
    urls = " ".join(url for _, url in sources)
    for needed in ("huggingface.co/docs/hub", "spdx.org", "creativecommons.org"):
        assert needed in urls


def test_every_hub_licence_id_is_in_the_table():
    assert set(HUB_LICENSE_IDS) - set(license_ids()) == set()


def catalog_dir() -> Path:
    default = Path(__file__).resolve().parents[2].parent / "shared"
    location = Path(os.environ.get("DATASET_EXPLORER_SHARED") or default) / "hub" / "catalog"
    if not location.is_dir():
        pytest.skip(f"{location} is absent: the real Hub catalog is not available")
    return location


@pytest.mark.shared_data
def test_every_licence_id_common_in_the_real_catalog_is_in_the_table():
    counts: Counter[str] = Counter()
    for path in sorted(catalog_dir().glob("catalog-*.jsonl")):
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                value = json.loads(line).get("license") or []
                counts.update([value] if isinstance(value, str) else value)
    assert counts, "no licences found in the catalog"
    common = sorted(license_id for license_id, n in counts.items() if n >= 3)
    assert [license_id for license_id in common if license_terms(license_id) is None] == []


@given(
    st.lists(
        st.tuples(st.sampled_from([*HUB_LICENSE_IDS, None, "", "made-up"]), st.booleans()),
        max_size=6,
    )
)
def test_the_verdict_follows_from_the_concerns(choices):
    members = [member(f"o/d{i}", lic, gated) for i, (lic, gated) in enumerate(choices)]
    verdict = assess_licenses(members)
    present = {c.kind for c in verdict.concerns}
    assert present <= set(KINDS)
    assert all(c.repo_ids for c in verdict.concerns)
    order = [SEVERITIES.index(c.severity) for c in verdict.concerns]
    assert order == sorted(order)
    if not members:
        assert verdict.verdict == "unknown"
    elif "conflict" in present:
        assert verdict.verdict == "incompatible"
    elif present & {"missing", "unknown"}:
        assert verdict.verdict == "unknown"
    elif any(c.severity == "caution" for c in verdict.concerns):
        assert verdict.verdict == "conditions"
    else:
        assert verdict.verdict == "compatible"
    terms = [t for _, t in verdict.members]
    if any(t is not None and t.commercial is False for t in terms):
        assert verdict.commercial_use is False
    elif members and all(t is not None and t.commercial for t in terms):
        assert verdict.commercial_use is True
    else:
        assert verdict.commercial_use is None
