"""The fake Hub speaks the Hub and dataset-viewer protocols, over real HTTP (urllib)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.client import HTTPConnection, HTTPException, IncompleteRead
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fakehub import FakeHub, yamlish
from tests.fakehub.__main__ import main as cli_main

ROOT = Path(__file__).resolve().parents[2]
INFO_KEYS = [
    "_id",
    "id",
    "author",
    "sha",
    "lastModified",
    "private",
    "gated",
    "disabled",
    "tags",
    "citation",
    "description",
    "downloads",
    "likes",
    "cardData",
    "siblings",
    "createdAt",
    "usedStorage",
]
LIST_KEYS = {
    "_id",
    "id",
    "author",
    "disabled",
    "gated",
    "lastModified",
    "likes",
    "trendingScore",
    "private",
    "sha",
    "description",
    "downloads",
    "tags",
    "createdAt",
}
AUTH = {"Authorization": "Bearer hf_test"}


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def next_url(self) -> str | None:
        link = self.headers.get("Link")
        if not link:
            return None
        assert link.startswith("<") and link.endswith('>; rel="next"'), link
        return link[1 : -len('>; rel="next"')]


def http(
    url: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    data: Any = None,
    timeout: float = 5.0,
) -> Reply:
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, error.headers, error.read())


def shared_dir() -> Path:
    location = os.environ.get("DATASET_EXPLORER_SHARED")
    if not location:
        pytest.skip("DATASET_EXPLORER_SHARED is not set: the real Hub catalog is not available")
    return Path(location)


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as fake:
        yield fake
    assert fake.errors == []


def add_many(hub: FakeHub, count: int) -> list[str]:
    ids = []
    for index in range(count):
        dataset_id = f"org{index % 3}/set-{index:02d}"
        hub.add_dataset(
            dataset_id,
            downloads=(index * 37) % 101,
            likes=(index * 11) % 17,
            task_categories=["text-classification" if index % 2 else "translation"],
            language=["en"] if index % 3 else ["fr", "de"],
            license=["mit"],
            card_tags=["legal"] if index % 5 == 0 else [],
        )
        ids.append(dataset_id)
    return ids


def list_all(url: str, headers: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    pages = 0
    next_url: str | None = url
    while next_url:
        reply = http(next_url, headers)
        assert reply.status == 200, reply.body
        items.extend(reply.json())
        pages += 1
        next_url = reply.next_url
    return items, pages


# -- /api/datasets ------------------------------------------------------------------------------


def test_pagination_follows_link_headers_until_exhausted(hub: FakeHub) -> None:
    ids = add_many(hub, 23)
    first = http(f"{hub.url}/api/datasets?limit=5&search=set")
    assert first.status == 200 and len(first.json()) == 5
    next_url = first.next_url
    assert next_url and next_url.startswith(hub.url + "/api/datasets?")
    query = parse_qs(urlsplit(next_url).query)
    assert query["limit"] == ["5"] and query["search"] == ["set"] and query["cursor"]

    items, pages = list_all(f"{hub.url}/api/datasets?limit=5")
    assert pages == 5
    assert [item["id"] for item in items] == ids  # each once, insertion order when unsorted
    for sort in ("likes", "downloads"):
        sorted_items, _ = list_all(f"{hub.url}/api/datasets?limit=4&sort={sort}")
        assert sorted(item["id"] for item in sorted_items) == sorted(ids)

    last = http(f"{hub.url}/api/datasets?limit=23")
    assert len(last.json()) == 23 and "Link" not in last.headers
    assert http(f"{hub.url}/api/datasets?limit=5&cursor=not-a-cursor").status == 400


def test_pages_stay_consistent_when_a_dataset_is_added_between_pages(hub: FakeHub) -> None:
    add_many(hub, 6)
    page = http(f"{hub.url}/api/datasets?limit=3&sort=likes&expand=likes")
    hub.add_dataset("late/arrival", likes=0)
    rest, _ = list_all(page.next_url)
    seen = [item["id"] for item in page.json() + rest]
    assert len(seen) == len(set(seen)) == 7


@pytest.mark.parametrize(
    "sort", ["createdAt", "downloads", "lastModified", "likes", "trendingScore"]
)
def test_sorting_is_descending(hub: FakeHub, sort: str) -> None:
    add_many(hub, 12)
    items, _ = list_all(f"{hub.url}/api/datasets?sort={sort}&limit=5&expand={sort}")
    values = [item[sort] for item in items]
    assert len(values) == 12 and values == sorted(values, reverse=True)


def test_search_author_filter_and_gated(hub: FakeHub) -> None:
    add_many(hub, 12)
    hub.add_dataset("Acme/Secret-Set", gated="manual", language=["en"])

    def ids(query: str) -> list[str]:
        return [item["id"] for item in http(f"{hub.url}/api/datasets?{query}").json()]

    assert ids("search=SECRET") == ["Acme/Secret-Set"]
    assert ids("search=acme/secret") == ["Acme/Secret-Set"]
    assert len(ids("author=org1")) == 4 and all(i.startswith("org1/") for i in ids("author=org1"))
    french = ids("filter=language:fr")
    assert french and all(hub.dataset(i).view().tag_set >= {"language:fr"} for i in french)
    both = ids("filter=language:en&filter=task_categories:text-classification")
    assert both == [
        i
        for i in ids("filter=language:en")
        if i in ids("filter=task_categories:text-classification")
    ]
    assert ids("filter=legal") == ["org0/set-00", "org2/set-05", "org1/set-10"]
    assert ids("filter=license:mit&search=set-01") == ["org1/set-01"]
    assert ids("gated=true") == ["Acme/Secret-Set"]
    assert "Acme/Secret-Set" not in ids("gated=false")


def test_default_full_and_expanded_fields(hub: FakeHub) -> None:
    hub.add_dataset("acme/one", task_categories=["summarization"], summary="Short news summaries.")
    default = http(f"{hub.url}/api/datasets").json()[0]
    assert set(default) == LIST_KEYS
    assert default["_id"] and len(default["_id"]) == 24 and int(default["_id"], 16) >= 0
    assert default["lastModified"].endswith(".000Z") and default["createdAt"].endswith("Z")
    assert "task_categories:summarization" in default["tags"] and "region:us" in default["tags"]
    assert "Dataset Card for one" in default["description"]

    full = http(f"{hub.url}/api/datasets?full=true").json()[0]
    assert set(full) == LIST_KEYS | {"cardData", "siblings"}
    assert full["cardData"]["task_categories"] == ["summarization"]
    assert {"rfilename": "README.md"} in full["siblings"]

    expanded = http(
        f"{hub.url}/api/datasets?expand=likes&expand[]=cardData&expand=downloadsAllTime"
    ).json()[0]
    assert set(expanded) == {"_id", "id", "likes", "cardData", "downloadsAllTime"}

    bad = http(f"{hub.url}/api/datasets?expand=likes&expand=colour")
    assert bad.status == 400 and "error" in bad.json()
    assert http(f"{hub.url}/api/datasets?full=true&expand=likes").status == 400
    assert http(f"{hub.url}/api/datasets?sort=name").status == 400
    assert http(f"{hub.url}/api/datasets?limit=zero").status == 400


def test_limit_is_capped_at_1000(hub: FakeHub) -> None:
    for index in range(1003):
        hub.add_dataset(f"bulk/d{index}", downloads=index)
    reply = http(f"{hub.url}/api/datasets?limit=5000&expand=downloads")
    assert len(reply.json()) == 1000 and reply.next_url
    assert len(http(reply.next_url).json()) == 3


def test_private_datasets_need_a_token(hub: FakeHub) -> None:
    hub.add_dataset("acme/hidden", private=True)
    hub.add_dataset("acme/open")
    assert [d["id"] for d in http(f"{hub.url}/api/datasets").json()] == ["acme/open"]
    assert len(http(f"{hub.url}/api/datasets", AUTH).json()) == 2
    assert http(f"{hub.url}/api/datasets/acme/hidden").status == 401
    assert http(f"{hub.url}/api/datasets/acme/hidden", AUTH).json()["private"] is True


# -- /api/datasets/{id} -------------------------------------------------------------------------


def test_dataset_info_has_the_full_shape(hub: FakeHub) -> None:
    hub.add_dataset(
        "acme/math",
        sizes={
            "dataset_size": 9_717_363,
            "download_size": 20_327_424,
            "num_examples": 12_500,
            "configs": 1,
        },
        citation="@article{x, title={X}}",
        language=["en"],
        task_categories=["text2text-generation"],
    )
    info = http(f"{hub.url}/api/datasets/acme/math").json()
    assert list(info) == INFO_KEYS
    assert info["citation"] == "@article{x, title={X}}"
    data_info = info["cardData"]["dataset_info"]
    assert data_info["dataset_size"] == 9_717_363
    assert sum(split["num_examples"] for split in data_info["splits"]) == 12_500
    assert info["siblings"][0] == {"rfilename": ".gitattributes"}
    assert info["usedStorage"] > 0

    by_revision = http(f"{hub.url}/api/datasets/acme/math/revision/main").json()
    assert by_revision == info
    assert (
        http(f"{hub.url}/api/datasets/acme/math/revision/{info['sha']}").json()["sha"]
        == info["sha"]
    )
    missing = http(f"{hub.url}/api/datasets/acme/math/revision/nope")
    assert missing.status == 404 and missing.headers["X-Error-Code"] == "RevisionNotFound"

    expanded = http(f"{hub.url}/api/datasets/acme/math?expand=likes&expand=usedStorage").json()
    assert set(expanded) == {"_id", "id", "likes", "usedStorage"}
    blobs = http(f"{hub.url}/api/datasets/acme/math?blobs=true").json()["siblings"]
    assert all("size" in s and "blobId" in s for s in blobs)
    assert any("lfs" in s for s in blobs)


def test_legacy_ids_without_namespace(hub: FakeHub) -> None:
    hub.add_dataset("squad", first_commit="2020-06-01T10:00:00Z", downloads=5)
    info = http(f"{hub.url}/api/datasets/squad").json()
    assert info["id"] == "squad" and info["author"] is None
    assert info["createdAt"].startswith("2022-03-02T23:29:")  # the Hub's pre-history value
    assert info["lastModified"] >= info["createdAt"]
    commits = http(f"{hub.url}/api/datasets/squad/commits/main").json()
    assert commits[-1]["date"].startswith("2020-06-01") and commits[-1]["title"] == "initial commit"


def test_unknown_repo_is_401_anonymous_and_404_with_a_token(hub: FakeHub) -> None:
    for path in (
        "/api/datasets/nobody/nothing",
        "/api/datasets/nobody/nothing/commits/main",
        "/datasets/nobody/nothing/resolve/main/README.md",
    ):
        anonymous = http(hub.url + path)
        assert anonymous.status == 401
        assert anonymous.headers["X-Error-Code"] == "RepoNotFound"
        assert anonymous.headers["X-Error-Message"]
        assert anonymous.json() == {"error": "Repository not found"}
        authenticated = http(hub.url + path, AUTH)
        assert (
            authenticated.status == 404 and authenticated.headers["X-Error-Code"] == "RepoNotFound"
        )


def test_only_known_tokens_are_accepted_when_tokens_are_set() -> None:
    with FakeHub(tokens={"hf_good"}) as fake:
        fake.add_dataset("acme/a")
        assert (
            http(f"{fake.url}/api/datasets/acme/a", {"Authorization": "Bearer hf_good"}).status
            == 200
        )
        bad = http(f"{fake.url}/api/datasets/acme/a", {"Authorization": "Bearer hf_bad"})
        assert (
            bad.status == 401
            and bad.headers["X-Error-Message"] == "Invalid credentials in Authorization header"
        )
        assert http(f"{fake.url}/api/whoami-v2", {"Authorization": "Bearer hf_good"}).json()["name"]


def test_updates_renames_and_determinism(hub: FakeHub) -> None:
    hub.add_dataset("acme/live", likes=3)
    before = http(f"{hub.url}/api/datasets/acme/live").json()
    twin = FakeHub()
    twin.add_dataset("acme/live", likes=3)
    assert twin.item("acme/live") == before  # same id and fields, same payload

    hub.update("acme/live", likes=9)
    commit = hub.touch("acme/live", title="Add more rows", when="2030-01-02T03:04:05Z")
    after = http(f"{hub.url}/api/datasets/acme/live").json()
    assert after["likes"] == 9 and after["sha"] == commit["id"] != before["sha"]
    assert after["lastModified"] == "2030-01-02T03:04:05.000Z"
    commits = http(f"{hub.url}/api/datasets/acme/live/commits/main")
    assert commits.json()[0]["title"] == "Add more rows"
    assert int(commits.headers["X-Total-Count"]) == len(hub.dataset("acme/live").commit_list())

    hub.rename("acme/live", "acme/alive")
    moved = http(f"{hub.url}/api/datasets/acme/live?expand=likes")
    assert moved.status == 200 and moved.json()["id"] == "acme/alive"  # urllib follows the 307
    assert hub.requests[-2].status == 307


# -- commits ------------------------------------------------------------------------------------


def test_commits_pages_and_total_count(hub: FakeHub) -> None:
    hub.add_dataset("acme/history", commits=23, createdAt="2023-01-01T00:00:00Z")
    first = http(f"{hub.url}/api/datasets/acme/history/commits/main?limit=10")
    assert first.status == 200 and first.headers["X-Total-Count"] == "23"
    page = first.json()
    assert len(page) == 10
    assert set(page[0]) == {"id", "title", "message", "authors", "date"}
    assert set(page[0]["authors"][0]) == {"user", "avatar"}
    assert parse_qs(urlsplit(first.next_url).query)["p"] == ["1"]

    items, pages = list_all(f"{hub.url}/api/datasets/acme/history/commits/main?limit=10")
    assert pages == 3 and len(items) == 23 and len({c["id"] for c in items}) == 23
    dates = [c["date"] for c in items]
    assert dates == sorted(dates, reverse=True) and items[-1]["title"] == "initial commit"
    info = http(f"{hub.url}/api/datasets/acme/history").json()
    assert items[0]["id"] == info["sha"] and items[0]["date"] == info["lastModified"]

    older = http(f"{hub.url}/api/datasets/acme/history/commits/{items[5]['id']}?p=0&limit=100")
    assert older.headers["X-Total-Count"] == "18" and "Link" not in older.headers
    formatted = http(
        f"{hub.url}/api/datasets/acme/history/commits/main?limit=1&expand[]=formatted"
    ).json()
    assert set(formatted[0]["formatted"]) == {"title", "message"}
    assert http(f"{hub.url}/api/datasets/acme/history/commits/v9.9").status == 404


def test_synthesized_histories_have_1_to_60_commits(hub: FakeHub) -> None:
    counts = [FakeHub().add_dataset(f"n/d{i}").view().commit_count for i in range(200)]
    assert min(counts) >= 1 and max(counts) <= 60 and len(set(counts)) > 5


# -- files --------------------------------------------------------------------------------------


def test_readme_is_served_as_text(hub: FakeHub) -> None:
    hub.add_dataset("acme/card", language=["no"], license=["mit"], summary="Norwegian text.")
    reply = http(f"{hub.url}/datasets/acme/card/resolve/main/README.md")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/plain")
    front, body = yamlish.split_front_matter(reply.body.decode())
    assert yamlish.load(front)["language"] == ["no"]
    assert "Norwegian text." in body
    assert reply.headers["X-Repo-Commit"] == http(f"{hub.url}/api/datasets/acme/card").json()["sha"]
    assert http(f"{hub.url}/datasets/acme/card/raw/main/README.md").body == reply.body
    head = http(f"{hub.url}/datasets/acme/card/resolve/main/README.md", method="HEAD")
    assert head.status == 200 and head.body == b"" and head.headers["ETag"]

    hub.add_dataset("acme/bare", card=False)
    missing = http(f"{hub.url}/datasets/acme/bare/resolve/main/README.md")
    assert missing.status == 404 and missing.headers["X-Error-Code"] == "EntryNotFound"
    assert (
        http(f"{hub.url}/datasets/acme/card/resolve/nope/README.md").headers["X-Error-Code"]
        == "RevisionNotFound"
    )

    real_card = "---\nlicense: apache-2.0\npretty_name: Real\n---\n# Real\n\n"
    real_card += "See arxiv.org/abs/2103.03874.\n"
    hub.add_dataset("acme/real", card=real_card)
    assert http(f"{hub.url}/datasets/acme/real/resolve/main/README.md").body.decode() == real_card
    info = http(f"{hub.url}/api/datasets/acme/real").json()
    assert info["cardData"] == {"license": "apache-2.0", "pretty_name": "Real"}
    assert "license:apache-2.0" in info["tags"] and "arxiv:2103.03874" in info["tags"]


def test_gated_readme_needs_a_token(hub: FakeHub) -> None:
    hub.add_dataset("acme/gated", gated="manual")
    assert (
        http(f"{hub.url}/api/datasets/acme/gated").json()["gated"] == "manual"
    )  # metadata is public
    denied = http(f"{hub.url}/datasets/acme/gated/resolve/main/README.md")
    assert denied.status == 403 and denied.headers["X-Error-Code"] == "GatedRepo"
    assert http(f"{hub.url}/datasets/acme/gated/resolve/main/README.md", AUTH).status == 200


# -- dataset viewer -----------------------------------------------------------------------------


def test_viewer_shapes() -> None:
    with FakeHub(examples=True) as fake:
        size = http(f"{fake.url}/size?dataset=ylecun/mnist").json()
        assert set(size) == {"size", "pending", "failed", "partial"}
        assert size["size"]["dataset"]["num_rows"] == 70000 and size["partial"] is False
        assert {c["config"] for c in size["size"]["configs"]} == {"mnist"}
        config = http(f"{fake.url}/size?dataset=nyu-mll/glue&config=ax").json()
        assert set(config) == {"size", "partial"} and set(config["size"]) == {"config", "splits"}
        info = http(f"{fake.url}/info?dataset=ylecun/mnist").json()
        assert set(info) == {"dataset_info", "pending", "failed", "partial"}
        assert info["dataset_info"]["mnist"]["features"]["image"] == {"_type": "Image"}
        assert info["dataset_info"]["mnist"]["splits"]["train"]["num_examples"] == 60000
        one = http(f"{fake.url}/info?dataset=nyu-mll/glue&config=ax").json()
        assert (
            set(one) == {"dataset_info", "partial"} and one["dataset_info"]["config_name"] == "ax"
        )
        splits = http(f"{fake.url}/splits?dataset=ibm/duorc").json()
        assert len(splits["splits"]) == 6 and splits["pending"] == splits["failed"] == []
        assert http(f"{fake.url}/is-valid?dataset=ibm/duorc").json() == dict.fromkeys(
            ("preview", "viewer", "search", "filter", "statistics"), True
        )
        failed = http(f"{fake.url}/size?dataset=allenai/atomic").json()
        assert failed["failed"][0]["kind"] == "config-size" and failed["size"]["configs"] == []
        assert not any(http(f"{fake.url}/is-valid?dataset=allenai/atomic").json().values())
        assert fake.errors == []


def test_viewer_errors_and_states(hub: FakeHub) -> None:
    hub.add_dataset(
        "acme/ok",
        sizes=[
            {
                "config": "default",
                "splits": [{"name": "train", "num_bytes": 1000, "num_examples": 10}],
            }
        ],
    )
    missing = http(f"{hub.url}/size")
    assert missing.status == 422 and missing.headers["X-Error-Code"] == "MissingRequiredParameter"
    assert missing.json() == {"error": "Parameter 'dataset' is required"}
    unknown = http(f"{hub.url}/size?dataset=nobody/nothing")
    assert (
        unknown.status == 401 and unknown.headers["X-Error-Code"] == "ExternalUnauthenticatedError"
    )
    unknown = http(f"{hub.url}/info?dataset=nobody/nothing", AUTH)
    assert unknown.status == 404 and unknown.headers["X-Error-Code"] == "ExternalAuthenticatedError"
    no_config = http(f"{hub.url}/size?dataset=acme/ok&config=nope")
    assert no_config.status == 404 and no_config.headers["X-Error-Code"] == "ResponseNotFound"

    hub.update("acme/ok", viewer="pending")
    pending = http(f"{hub.url}/size?dataset=acme/ok").json()
    assert pending["pending"] == [
        {"kind": "config-size", "dataset": "acme/ok", "config": "default", "split": None}
    ]
    hub.update("acme/ok", viewer="not_ready")
    assert http(f"{hub.url}/splits?dataset=acme/ok").headers["X-Error-Code"] == "ResponseNotReady"
    hub.update("acme/ok", viewer="partial")
    partial = http(f"{hub.url}/size?dataset=acme/ok").json()
    assert partial["partial"] is True
    assert (
        partial["size"]["dataset"]["num_rows"]
        < partial["size"]["dataset"]["estimated_num_rows"]
        == 10
    )

    hub.add_dataset(
        "acme/huge",
        sizes=[
            {
                "config": "default",
                "splits": [
                    {"name": "train", "num_bytes": 20_000_000_000, "num_examples": 4_000_000}
                ],
            }
        ],
    )
    huge = http(f"{hub.url}/size?dataset=acme/huge").json()
    assert huge["partial"] is True and huge["size"]["splits"][0]["estimated_num_rows"] == 4_000_000
    assert huge["size"]["splits"][0]["num_rows"] == 1_000_000


@pytest.mark.shared_data
def test_viewer_and_hub_samples_are_reproduced_verbatim() -> None:
    samples = shared_dir() / "hub" / "samples"
    with FakeHub(examples=True) as fake:

        def same(path: str, sample: str, drop: str | None = None) -> None:
            got = http(fake.url + path).json()
            want = json.loads((samples / sample).read_text())
            if drop:
                got = _without(got, drop)
            assert got == want, sample

        same(
            "/api/datasets/hendrycks/competition_math",
            "dataset_info_hendrycks_competition_math.json",
        )
        same("/size?dataset=ylecun/mnist", "viewer_size_mnist.json")
        same("/size?dataset=nyu-mll/glue&config=ax", "viewer_size_config_glue_ax.json")
        same("/size?dataset=allenai/atomic", "viewer_size_failed_atomic.json")
        same("/size?dataset=ibm/duorc", "viewer_size_duorc.json", drop="estimated_num_rows")
        same("/splits?dataset=ibm/duorc", "viewer_splits_duorc.json")
        fields = (
            "author disabled gated lastModified likes private sha description downloads "
            "downloadsAllTime tags createdAt"
        )
        expand = "&".join(f"expand={name}" for name in fields.split())
        same(
            f"/api/datasets?author=rajpurkar&search=squad&limit=1&{expand}",
            "list_datasets_item_rajpurkar_squad_expand.json",
        )
        raw = json.loads((samples / "dataset_info_hendrycks_competition_math.json").read_text())
        assert list(http(f"{fake.url}/api/datasets/hendrycks/competition_math").json()) == list(raw)


def _without(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, key) for k, v in value.items() if k != key}
    if isinstance(value, list):
        return [_without(v, key) for v in value]
    return value


# -- rate limits --------------------------------------------------------------------------------


def test_rate_limit_headers_count_down_and_429_past_the_quota() -> None:
    with FakeHub(quotas={"api": (3, 5)}) as fake:
        remaining = []
        for _ in range(3):
            reply = http(f"{fake.url}/api/datasets")
            assert reply.headers["RateLimit-Policy"] == '"fixed window";"api";q=3;w=300'
            remaining.append(reply.headers["RateLimit"])
        assert [r.split(";")[1] for r in remaining] == ["r=2", "r=1", "r=0"]
        assert all(r.startswith('"api";') and ";t=" in r for r in remaining)
        over = http(f"{fake.url}/api/datasets")
        assert over.status == 429 and int(over.headers["Retry-After"]) > 0
        assert over.headers["RateLimit"].startswith('"api";r=0;t=')
        assert http(f"{fake.url}/api/datasets", AUTH).status == 200  # its own, larger quota
        assert (
            http(f"{fake.url}/datasets/x/y/resolve/main/README.md")
            .headers["RateLimit"]
            .startswith('"resolvers"')
        )
        fake.reset_rate_limit()
        assert http(f"{fake.url}/api/datasets").status == 200


# -- faults -------------------------------------------------------------------------------------


def test_status_fault_with_times_and_path(hub: FakeHub) -> None:
    hub.add_dataset("acme/a")
    fault = hub.fail("status", status=503, times=2, path=r"^/api/datasets$")
    assert http(f"{hub.url}/api/datasets/acme/a").status == 200  # path does not match
    assert [http(f"{hub.url}/api/datasets").status for _ in range(3)] == [503, 503, 200]
    assert fault.hits == 2 and hub.faults == []
    hub.fail("status", status=500)
    reply = http(f"{hub.url}/api/datasets/acme/a")
    assert reply.status == 500 and reply.json() == {"error": "Internal Server Error"}
    hub.heal()
    assert http(f"{hub.url}/api/datasets/acme/a").status == 200


def test_429_fault_sends_retry_after_and_empty_rate_limit(hub: FakeHub) -> None:
    hub.fail("status", status=429, retry_after=7, times=1)
    reply = http(f"{hub.url}/api/datasets")
    assert reply.status == 429 and reply.headers["Retry-After"] == "7"
    assert reply.headers["RateLimit"] == '"api";r=0;t=7'
    assert http(f"{hub.url}/api/datasets").status == 200


def test_latency_fault_delays_the_answer(hub: FakeHub) -> None:
    hub.fail("latency", seconds=0.3, times=1)
    started = time.monotonic()
    assert http(f"{hub.url}/api/datasets").status == 200
    assert time.monotonic() - started >= 0.3
    http(f"{hub.url}/api/datasets")
    assert [entry.fault for entry in hub.requests][-2:][1] is None  # `times=1`: spent


def test_timeout_fault_outlasts_the_client_and_ends_with_the_server() -> None:
    fake = FakeHub().start()
    try:
        fake.fail("timeout", seconds=60, path="^/size$")
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            http(f"{fake.url}/size?dataset=a/b", timeout=0.3)
        assert http(f"{fake.url}/api/datasets").status == 200  # other paths still answer
    finally:
        started = time.monotonic()
        fake.stop()
        assert time.monotonic() - started < 2
    assert fake.errors == []


def test_stop_closes_the_port_and_a_hub_can_restart() -> None:
    fake = FakeHub().start()
    port = int(fake.url.rsplit(":", 1)[1])
    connection = HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/api/datasets")
        with connection.getresponse() as response:
            assert response.status == 200 and response.read() == b"[]"
            assert response.getheader("Connection") == "close"
        started = time.monotonic()
        fake.stop()
        assert time.monotonic() - started < 2
        with pytest.raises((ConnectionError, HTTPException, OSError)):
            connection.request("GET", "/api/datasets")
            connection.getresponse()
    finally:
        connection.close()
    with pytest.raises(RuntimeError):
        assert fake.url
    with fake:
        assert http(f"{fake.url}/api/datasets").status == 200


def test_malformed_truncated_and_schema_faults(hub: FakeHub) -> None:
    hub.add_dataset("acme/a")
    hub.fail("malformed", times=1)
    reply = http(f"{hub.url}/api/datasets")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        reply.json()

    whole = http(f"{hub.url}/api/datasets/acme/a").body
    hub.fail("truncated", times=1, fraction=0.5)
    cut = http(f"{hub.url}/api/datasets/acme/a")
    assert cut.status == 200 and int(cut.headers["Content-Length"]) == len(cut.body) < len(whole)
    with pytest.raises(json.JSONDecodeError):
        cut.json()

    hub.fail("truncated", times=1, declare_full=True)
    request = urllib.request.Request(f"{hub.url}/api/datasets/acme/a")
    with urllib.request.urlopen(request, timeout=5) as response:
        with pytest.raises(IncompleteRead):
            response.read()

    hub.fail("schema", times=1)
    assert isinstance(http(f"{hub.url}/api/datasets").json(), dict)  # a dict where a list belongs
    hub.fail("schema", times=1, variant="drop_ids")
    assert "id" not in http(f"{hub.url}/api/datasets").json()[0]
    hub.fail("schema", times=1, variant="types")
    assert isinstance(http(f"{hub.url}/api/datasets?expand=likes").json()[0]["likes"], str)
    hub.fail("schema", times=1, body={"unexpected": True})
    assert http(f"{hub.url}/size?dataset=acme/a").json() == {"unexpected": True}
    with pytest.raises(ValueError):
        hub.fail("schema", variant="sideways")
    with pytest.raises(ValueError):
        hub.fail("latency", secs=1)
    with pytest.raises(ValueError):
        hub.add_dataset("acme/bad", sizes={"weird": 1})
    with pytest.raises(TypeError):
        hub.add_dataset("acme/bad", colour="red")
    assert "acme/bad" not in hub


def test_not_found_and_gated_faults(hub: FakeHub) -> None:
    hub.add_dataset("acme/a")
    hub.fail("not_found", times=1)
    gone = http(f"{hub.url}/api/datasets/acme/a")
    assert gone.status == 401 and gone.headers["X-Error-Code"] == "RepoNotFound"
    hub.fail("not_found", times=1)
    assert http(f"{hub.url}/api/datasets/acme/a", AUTH).status == 404
    hub.fail("gated", times=2)
    assert http(f"{hub.url}/api/datasets/acme/a").status == 200  # metadata is not gated
    gated = http(f"{hub.url}/datasets/acme/a/resolve/main/README.md", AUTH)
    assert gated.status == 403 and gated.headers["X-Error-Code"] == "GatedRepo"
    assert http(f"{hub.url}/info?dataset=acme/a", AUTH).status == 404
    assert http(f"{hub.url}/datasets/acme/a/resolve/main/README.md").status == 200


def test_request_log(hub: FakeHub) -> None:
    http(f"{hub.url}/api/datasets?search=x&filter=a&filter=b", AUTH)
    http(f"{hub.url}/size?dataset=acme/a")
    entry = hub.requests[0]
    assert (entry.method, entry.path, entry.status) == ("GET", "/api/datasets", 200)
    assert entry.query == {"search": ["x"], "filter": ["a", "b"]}
    assert entry.param("search") == "x" and entry.headers["Authorization"] == "Bearer hf_test"
    assert hub.count(r"^/api/datasets$") == 1 and hub.count(r"^/size$") == 1 and hub.count() == 2
    hub.clear_log()
    assert hub.requests == []


def test_http_control_api(hub: FakeHub) -> None:
    created = http(
        f"{hub.url}/_fakehub/faults",
        method="POST",
        data={"kind": "status", "status": 503, "times": 1, "path": "^/api/"},
    )
    assert created.status == 201 and created.json()["kind"] == "status"
    assert http(f"{hub.url}/api/datasets").status == 503
    assert http(f"{hub.url}/api/datasets").status == 200
    http(f"{hub.url}/_fakehub/faults", method="POST", data={"kind": "latency", "seconds": 0})
    assert len(http(f"{hub.url}/_fakehub/faults").json()) == 1
    assert http(f"{hub.url}/_fakehub/faults", method="DELETE").status == 204
    assert hub.faults == []
    assert http(f"{hub.url}/_fakehub/faults", method="POST", data={"kind": "nope"}).status == 400

    added = http(
        f"{hub.url}/_fakehub/datasets", method="POST", data=[{"id": "acme/new", "likes": 4}]
    )
    assert added.status == 201 and hub.dataset("acme/new").view().likes == 4
    patched = http(f"{hub.url}/_fakehub/datasets/acme/new", method="PATCH", data={"likes": 5})
    assert patched.json()["likes"] == 5
    touched = http(
        f"{hub.url}/_fakehub/datasets/acme/new/touch", method="POST", data={"title": "Update"}
    )
    assert touched.json()["id"] == http(f"{hub.url}/api/datasets/acme/new").json()["sha"]
    log = http(f"{hub.url}/_fakehub/requests").json()
    assert [entry["path"] for entry in log] == [
        "/api/datasets",
        "/api/datasets",
        "/api/datasets/acme/new",
    ]
    assert (
        http(f"{hub.url}/_fakehub/requests", method="DELETE").status == 204 and hub.requests == []
    )


# -- data loading, cards, CLI ---------------------------------------------------------------------


def test_add_records_accepts_catalog_and_hub_shapes(hub: FakeHub) -> None:
    hub.add_records(
        [
            {
                "id": "argilla/news",
                "author": "argilla",
                "pretty_name": "News",
                "description": "News summaries.",
                "description_source": "card:Dataset Summary",
                "created_at": "2022-12-07T05:39:38Z",
                "downloads": 1093305,
                "domain": "nlp",
                "task_categories": ["summarization"],
                "task_ids": [],
                "license": ["cc-by-nc-4.0"],
                "language": ["en"],
                "size_categories": ["1K<n<10K"],
                "multilinguality": ["monolingual"],
                "tags": [],
                "paperswithcode_id": None,
                "card_chars": 100,
                "card_shard": "cards/cards-00.jsonl",
                "likely_autogenerated": False,
                "sizes": {
                    "source": "card:dataset_info",
                    "dataset_size": 252347,
                    "download_size": 106376,
                    "num_examples": 114,
                    "configs": 1,
                },
            },
            {
                "_id": "621ffdd236468d709f181f9c",
                "id": "rajpurkar/squad_v2",
                "author": "rajpurkar",
                "disabled": False,
                "gated": False,
                "lastModified": "2024-03-04T13:55:27.000Z",
                "likes": 263,
                "private": False,
                "downloads": 83337,
                "description": "Dataset Card for SQuAD 2.0.",
                "tags": [
                    "task_categories:question-answering",
                    "language:en",
                    "license:cc-by-sa-4.0",
                ],
            },
        ]
    )
    news = http(f"{hub.url}/api/datasets/argilla/news").json()
    assert news["downloads"] == 1093305 and news["createdAt"] == "2022-12-07T05:39:38.000Z"
    assert {
        "task_categories:summarization",
        "language:en",
        "license:cc-by-nc-4.0",
        "modality:text",
    } <= set(news["tags"])
    assert news["cardData"]["dataset_info"]["dataset_size"] == 252347
    assert http(f"{hub.url}/size?dataset=argilla/news").json()["size"]["dataset"]["num_rows"] == 114
    squad = http(f"{hub.url}/api/datasets?search=squad_v2").json()[0]
    assert squad["_id"] == "621ffdd236468d709f181f9c" and squad["likes"] == 263
    assert squad["tags"] == [
        "task_categories:question-answering",
        "language:en",
        "license:cc-by-sa-4.0",
    ]
    assert (
        http(f"{hub.url}/api/datasets?filter=license:cc-by-sa-4.0").json()[0]["id"]
        == "rajpurkar/squad_v2"
    )


@pytest.mark.shared_data
def test_loading_the_real_catalog() -> None:
    catalog = shared_dir() / "hub" / "catalog"
    path = catalog / "catalog-00.jsonl"
    records = [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    with FakeHub.from_catalog([path]) as fake:
        assert len(fake) == len(records)
        items, pages = list_all(f"{fake.url}/api/datasets?limit=1000&expand=downloads")
        assert pages == -(-len(records) // 1000)
        assert [item["id"] for item in items] == [record["id"] for record in records]
        assert [item["downloads"] for item in items] == [record["downloads"] for record in records]
        english = sum(1 for record in records if "en" in record["language"])
        assert len(list_all(f"{fake.url}/api/datasets?filter=language:en&limit=1000")[0]) == english
        assert fake.errors == []


@pytest.mark.shared_data
def test_loading_real_cards() -> None:
    catalog = shared_dir() / "hub" / "catalog"
    with (catalog / "cards" / "cards-00.jsonl").open(encoding="utf-8") as stream:
        card = json.loads(stream.readline())
    assert card["id"] == "super_glue"
    with FakeHub.from_catalog([catalog / "catalog-00.jsonl"], cards_dir=catalog / "cards") as fake:
        assert (
            http(f"{fake.url}/datasets/super_glue/resolve/main/README.md").body.decode()
            == card["card"]
        )
        info = http(f"{fake.url}/api/datasets/super_glue").json()
        assert len(info["cardData"]["dataset_info"]) == 11
        assert "task_categories:question-answering" in info["tags"]
        size = http(f"{fake.url}/size?dataset=super_glue").json()
        assert size["size"]["dataset"]["num_rows"] == 196313  # the catalog's summed sizes
        assert {c["config"] for c in size["size"]["configs"]} >= {"boolq", "cb", "copa"}
        assert fake.errors == []


def test_yaml_round_trip() -> None:
    data = {
        "language": ["en", "no"],
        "license": "mit",
        "size_categories": ["10K<n<100K"],
        "pretty_name": "A: tricky # name",
        "task_ids": [],
        "empty": {},
        "dataset_info": [
            {
                "config_name": "x",
                "features": [
                    {
                        "name": "label",
                        "dtype": {"class_label": {"names": {"0": "False", "1": "yes"}}},
                    }
                ],
                "splits": [{"name": "train", "num_bytes": 5, "num_examples": 1}],
                "dataset_size": 5,
            }
        ],
    }
    assert yamlish.load(yamlish.dump(data)) == data
    text = (
        "a: 1\nb:\n- x # comment\n- 'it''s'\nc: |\n  line\n  two\n"
        'd: [1, "two", {e: null}]\nf: >-\n  folded\n  text\n'
    )
    assert yamlish.load(text) == {
        "a": 1,
        "b": ["x", "it's"],
        "c": "line\ntwo\n",
        "d": [1, "two", {"e": None}],
        "f": "folded text",
    }


def test_cli_refuses_non_loopback_addresses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["--host", "0.0.0.0", "--port", "0"])
    assert exit_info.value.code == 2
    assert "loopback" in capsys.readouterr().err
    with pytest.raises(ValueError):
        FakeHub(host="0.0.0.0").start()


def test_cli_serves_the_examples() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakehub", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline(), process.stdout.readline()]
        assert f"http://127.0.0.1:{port}" in lines[1], lines
        reply = http(f"http://127.0.0.1:{port}/api/datasets/hendrycks/competition_math")
        assert reply.json()["id"] == "hendrycks/competition_math"
    finally:
        process.terminate()
        process.communicate(timeout=5)
