"""The report page and the export, with the fake Hub answering, failing, or out of reach."""

from __future__ import annotations

import io
import json
import re

import pytest
from sqlalchemy import select

from app.combinations import service
from app.extensions import db
from app.models import Combination, CombinationMember, Dataset, User
from tests.combinations.test_views import HX, post, select_dataset, text
from tests.conftest import Auth, create_user

SQUAD_SIZES = {
    "configs": [
        {
            "config": "plain_text",
            "download_size": 35_142_551,
            "dataset_size": 89_789_763,
            "splits": [
                {"name": "train", "num_examples": 87_599, "num_bytes": 79_346_108},
                {"name": "validation", "num_examples": 10_570, "num_bytes": 10_443_655},
            ],
        }
    ]
}
REVIEWS_SIZES = {
    "configs": [
        {
            "config": "default",
            "download_size": 2_000_000,
            "dataset_size": 3_000_000,
            "splits": [{"name": "train", "num_examples": 12_401, "num_bytes": 3_000_000}],
        }
    ]
}


@pytest.fixture
def ann(app, client, small_catalog):
    create_user("ann@example.com")
    assert Auth(client).login("ann@example.com").status_code == 303
    return client


@pytest.fixture
def two_members(hub_app, hub, ann):
    hub.add_dataset("squad", sizes=SQUAD_SIZES, license="cc-by-sa-4.0")
    hub.add_dataset("acme/movie-reviews", sizes=REVIEWS_SIZES, license="mit")
    for repo_id in ("squad", "acme/movie-reviews"):
        assert select_dataset(ann, repo_id).status_code == 303
    return db.session.scalar(select(Combination))


def shas(hub) -> dict[str, str]:
    return {repo_id: hub.dataset(repo_id).view().sha for repo_id in ("squad", "acme/movie-reviews")}


def test_with_the_hub_the_report_shows_exact_totals_per_split_and_the_commits(
    two_members, ann, hub
):
    body = text(ann.get(f"/combinations/{two_members.id}"))
    # 87,599 + 10,570 rows of squad and 12,401 of the reviews
    assert "<strong>110,570</strong> rows" in body
    assert "Known only by size category" not in body and "Hub did not answer" not in body
    assert '<td>plain_text</td><td>validation</td><td class="number">10,570</td>' in body
    for repo_id, sha in shas(hub).items():
        assert f"<code>{sha[:10]}</code>" in body, repo_id
    # Proportional on the train splits: 87,599 / (87,599 + 12,401) = 0.87599
    assert '<td class="number">0.8760</td>' in body and '<td class="number">0.1240</td>' in body
    # The licence verdict names the share-alike member.
    assert "squad (cc-by-sa-4.0) is licensed share-alike" in body


def test_the_manifest_pins_each_dataset_to_the_commit_it_was_assessed_at(two_members, ann, hub):
    ann.get(f"/combinations/{two_members.id}")
    response = ann.get(f"/combinations/{two_members.id}/manifest.json")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    manifest = json.loads(response.get_data())
    assert manifest["format"] == "dataset-explorer/combination" and manifest["version"] == 1
    entries = {entry["repo_id"]: entry for entry in manifest["datasets"]}
    assert {r: e["revision"] for r, e in entries.items()} == shas(hub)
    assert entries["squad"]["config"] == "plain_text" and entries["squad"]["split"] == "train"
    assert entries["squad"]["rows"] == {"low": 98_169, "high": 98_169}
    assert entries["squad"]["download_bytes"] == {"low": 35_142_551, "high": 35_142_551}
    assert entries["acme/movie-reviews"]["license"] == "mit"
    assert abs(entries["squad"]["probability"] - 0.87599) < 1e-9
    # A new commit on the Hub after the assessment: the export still names the assessed one
    # until the report is looked at again.
    assessed = shas(hub)
    hub.touch("squad")
    again = json.loads(ann.get(f"/combinations/{two_members.id}/manifest.json").get_data())
    assert {e["repo_id"]: e["revision"] for e in again["datasets"]} == assessed


def test_the_python_rebuilds_the_mix_with_pinned_revisions(two_members, ann, hub):
    response = ann.get(f"/combinations/{two_members.id}/recipe.py")
    assert response.status_code == 200 and response.mimetype == "text/x-python"
    code = response.get_data(as_text=True)
    compile(code, "recipe.py", "exec")  # valid Python
    sha = shas(hub)
    assert f"load_dataset('squad', 'plain_text', revision='{sha['squad']}', split='train')" in code
    assert f"load_dataset('acme/movie-reviews', revision='{sha['acme/movie-reviews']}'" in code
    assert "probabilities=[0.87599, 0.12401]" in code
    assert "seed=42" in code and "stopping_strategy='first_exhausted'" in code
    page = text(ann.get(f"/combinations/{two_members.id}"))
    assert '<textarea id="snippet" class="code" readonly' in page
    assert "revision=&#39;" + sha["squad"] in page


def test_with_the_hub_down_the_report_uses_ranges_and_says_what_is_unknown(ann):
    db.session.add(Dataset(repo_id="mystery/no-size", license=None))
    db.session.commit()
    for repo_id in ("squad", "acme/census-income", "mystery/no-size"):
        select_dataset(ann, repo_id)
    combination = db.session.scalar(select(Combination))
    response = ann.get(f"/combinations/{combination.id}")
    assert response.status_code == 200
    body = text(response)
    assert "Hub did not answer" in body
    # squad and census-income are both 10K<n<100K: 20,000 – 199,998, and no upper bound with
    # a member of unknown size.
    assert "<strong>at least 20,000</strong> rows" in body
    assert "No row count is known for mystery/no-size" in body and "not as zero" in body
    assert "Known exactly: 0 rows from 0 of 3 datasets; the rest of the total is unknown." in body
    assert "Left out of the plan, because no size at all is known for them: mystery/no-size" in body
    assert "Planned on an estimate" in body
    verdict = re.search(r'<p class="verdict verdict-(\w+)">', body).group(1)
    assert verdict == "unknown"  # a member without a licence
    assert "revision=" not in body.split('id="snippet"', 1)[1].split("</textarea>")[0]
    assert "not pinned" in body


def test_changing_the_mix_recomputes_in_place_and_is_kept(two_members, ann):
    url = f"/combinations/{two_members.id}/mix"
    settings = {"method": "equal", "temperature": "2", "strategy": "all_exhausted", "seed": "7"}
    response = post(ann, url, settings, headers=HX)
    assert response.status_code == 200
    fragment = text(response)
    assert fragment.lstrip().startswith('<div id="mix-results"') and "<html" not in fragment
    assert fragment.count('<td class="number">0.5000</td>') == 4  # both strategies, both members
    # all_exhausted with equal weights: 2 x 87,599 rows; the reviews repeat 87,599 / 12,401 times
    assert "175,198 rows in the mix" in fragment and "7.06×" in fragment
    # The Python follows the new mix (swapped out of band).
    export = fragment[fragment.index('<section id="export"') :]
    assert 'hx-swap-oob="outerHTML"' in export[:120]
    assert "probabilities=[0.5, 0.5]" in export
    assert "stopping_strategy=&#39;all_exhausted&#39;" in export
    db.session.expire_all()
    saved = db.session.get(Combination, two_members.id)
    assert (saved.mix_method, saved.stopping_strategy, saved.seed) == ("equal", "all_exhausted", 7)

    plain = post(ann, url, {**settings, "method": "temperature", "temperature": "1"})
    assert plain.status_code == 303 and plain.headers["Location"].endswith("#mix-heading")
    assert '<td class="number">0.8760</td>' in text(ann.get(f"/combinations/{two_members.id}"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"method": "loudest"}, "Choose a weighting"),
        ({"temperature": "0"}, "The temperature must be a number from 0.01 to 100"),
        ({"temperature": "nan"}, "The temperature must be"),
        ({"strategy": "never"}, "Choose a stopping strategy"),
        ({"seed": "-1"}, "The seed must be a whole number"),
        ({"seed": "1e99"}, "The seed must be a whole number"),
    ],
)
def test_bad_mix_settings_are_refused_and_nothing_changes(two_members, ann, change, message):
    settings = {"method": "equal", "temperature": "2", "strategy": "all_exhausted", "seed": "7"}
    response = post(ann, f"/combinations/{two_members.id}/mix", {**settings, **change}, headers=HX)
    assert response.status_code == 422 and message in text(response)
    plain = post(ann, f"/combinations/{two_members.id}/mix", {**settings, **change})
    assert plain.status_code == 422 and message in text(plain) and "<html" in text(plain)
    db.session.expire_all()
    assert db.session.get(Combination, two_members.id).mix_method == "proportional"


def test_custom_weights_are_saved_per_member_and_checked(two_members, ann):
    squad = db.session.scalar(select(Dataset).where(Dataset.repo_id == "squad"))
    reviews = db.session.scalar(select(Dataset).where(Dataset.repo_id == "acme/movie-reviews"))
    settings = {"method": "custom", "temperature": "2", "strategy": "first_exhausted", "seed": "1"}
    weights = {f"weight-{squad.id}": "1", f"weight-{reviews.id}": "3"}
    response = post(ann, f"/combinations/{two_members.id}/mix", {**settings, **weights}, headers=HX)
    assert response.status_code == 200 and '<td class="number">0.7500</td>' in text(response)
    missing = post(
        ann,
        f"/combinations/{two_members.id}/mix",
        {**settings, f"weight-{squad.id}": "1"},
        headers=HX,
    )
    assert missing.status_code == 200 and "acme/movie-reviews" in text(missing)
    assert 'class="notice notice-error"' in text(missing)  # a custom mix needs every weight
    negative = post(
        ann,
        f"/combinations/{two_members.id}/mix",
        {**settings, f"weight-{squad.id}": "-2"},
        headers=HX,
    )
    assert negative.status_code == 422 and "The weight of squad must be a number" in text(negative)


OURS = '{"format": "dataset-explorer/combination", "version": 1, '


def manifest_of(client, combination_id: int) -> dict:
    return json.loads(client.get(f"/combinations/{combination_id}/manifest.json").get_data())


def upload(client, content: bytes | str, name: str = "mix.json"):
    data = content.encode() if isinstance(content, str) else content
    return post(
        client,
        "/combinations/import",
        {"manifest": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_importing_an_exported_manifest_recreates_the_combination(two_members, ann, hub):
    squad = db.session.scalar(select(Dataset).where(Dataset.repo_id == "squad"))
    post(
        ann,
        f"/combinations/{two_members.id}/mix",
        {
            "method": "custom",
            "temperature": "3",
            "strategy": "all_exhausted",
            "seed": "99",
            f"weight-{squad.id}": "2",
        },
    )
    manifest = manifest_of(ann, two_members.id)
    response = upload(ann, json.dumps(manifest))
    assert response.status_code == 303
    new_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert new_id != two_members.id
    copy = db.session.get(Combination, new_id)
    assert copy.name == f"{two_members.name} (2)"
    assert (copy.mix_method, copy.temperature, copy.stopping_strategy, copy.seed) == (
        "custom",
        3.0,
        "all_exhausted",
        99,
    )
    members = {m.dataset.repo_id: m for m in copy.members}
    assert set(members) == {"squad", "acme/movie-reviews"}
    assert members["squad"].weight == 2.0 and members["acme/movie-reviews"].weight is None
    assert {r: m.assessed_sha for r, m in members.items()} == shas(hub)
    user = db.session.scalar(select(User))
    assert service.active_id_of(db.session, user.id) == new_id


def test_an_import_skips_datasets_the_catalog_does_not_know_and_says_so(ann):
    manifest = {
        "format": "dataset-explorer/combination",
        "version": 1,
        "name": "From a colleague",
        "datasets": [{"repo_id": "squad"}, {"repo_id": "elsewhere/unknown"}],
    }
    response = upload(ann, json.dumps(manifest))
    assert response.status_code == 303
    page = text(ann.get(response.headers["Location"]))
    assert "Not in the catalog, left out: elsewhere/unknown" in page
    combination = db.session.scalar(select(Combination))
    assert [m.dataset.repo_id for m in combination.members] == ["squad"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n", "That file is not JSON"),
        ("{not json", "That file is not JSON"),
        ('{"datasets": [{"repo_id": "squad"}]}', "not a Dataset Explorer combination manifest"),
        ('{"format": "dataset-explorer/combination", "version": 9, "datasets": []}', "version 9"),
        (
            '{"format": "dataset-explorer/combination", "version": 1, "datasets": []}',
            "lists no datasets",
        ),
        (
            OURS + '"datasets": [{"repo_id": "../x"}]}',
            "valid id",
        ),
        (
            OURS + '"datasets": [{"repo_id": "nobody/here"}]}',
            "None of the manifest",
        ),
        (
            OURS + '"mix": {"seed": -4}, "datasets": [{"repo_id": "squad"}]}',
            "The seed must be",
        ),
        (
            OURS + '"datasets": [{"repo_id": "squad", "weight": "heavy"}]}',
            "A weight must be a number",
        ),
        ("[" + ",".join(['{"repo_id": "squad"}'] * 51) + "]", "not a Dataset Explorer"),
    ],
)
def test_bad_or_foreign_manifests_get_a_clear_error_and_create_nothing(ann, content, message):
    response = upload(ann, content)
    assert response.status_code == 422
    assert message in text(response)
    assert db.session.scalar(select(Combination)) is None


def test_a_manifest_with_more_than_fifty_datasets_is_refused(ann):
    manifest = {
        "format": "dataset-explorer/combination",
        "version": 1,
        "datasets": [{"repo_id": f"bulk/d{n}"} for n in range(51)],
    }
    response = upload(ann, json.dumps(manifest))
    assert response.status_code == 422 and "the most is 50" in text(response)


def test_an_empty_import_form_says_what_to_do(ann):
    response = post(ann, "/combinations/import", {})
    assert response.status_code == 422 and "Choose a manifest file" in text(response)


def test_a_combination_without_members_renders_and_exports(ann):
    post(ann, "/combinations", {"name": "Empty"})
    combination = db.session.scalar(select(Combination))
    page = ann.get(f"/combinations/{combination.id}")
    assert page.status_code == 200 and "No datasets yet" in text(page)
    assert manifest_of(ann, combination.id)["datasets"] == []
    assert ann.get(f"/combinations/{combination.id}/recipe.py").status_code == 409


def test_members_of_a_combination_are_listed_in_the_order_they_were_added(ann):
    for repo_id in ("squad", "acme/census-income", "acme/movie-reviews"):
        select_dataset(ann, repo_id)
    combination = db.session.scalar(select(Combination))
    ordered = db.session.scalars(
        select(CombinationMember).where(CombinationMember.combination_id == combination.id)
    ).all()
    assert len(ordered) == 3
    body = text(ann.get(f"/combinations/{combination.id}"))
    positions = [
        body.index(f'<th scope="row"><a href="/datasets/{r}">')
        for r in ("squad", "acme/census-income", "acme/movie-reviews")
    ]
    assert positions == sorted(positions)


def test_the_first_report_shows_what_the_hub_says_now_not_the_catalogs_older_row(hub_app, hub, ann):
    # The catalog has the reviews as MIT with 10K-100K rows; the Hub now says otherwise.
    hub.add_dataset("acme/movie-reviews", sizes=REVIEWS_SIZES, license="cc-by-nc-4.0")
    hub.add_dataset("squad", sizes=SQUAD_SIZES, license="cc-by-sa-4.0")
    for repo_id in ("acme/movie-reviews", "squad"):
        assert select_dataset(ann, repo_id).status_code == 303
    combination = db.session.scalar(select(Combination))
    body = text(ann.get(f"/combinations/{combination.id}"))  # fetches the Hub's answers
    assert "acme/movie-reviews (cc-by-nc-4.0)" in body
    assert "(mit)" not in body
    reviews = db.session.scalar(select(Dataset).where(Dataset.repo_id == "acme/movie-reviews"))
    assert reviews.license == "cc-by-nc-4.0"  # the catalog row was rewritten, too
