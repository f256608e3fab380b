"""A results page's rows: each row's URLs, forms and CSRF token, worked out once per page, are
what url_for, the buttons' own fragments and csrf_token() give."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

import pytest
from flask import Flask, url_for
from sqlalchemy import select

from app.catalog.store import mark_changed
from app.extensions import db
from app.follows import service as follows
from app.models import Dataset
from app.templating import ROW_ENDPOINTS, DatasetRows, DatasetUrls, RowUrls, clear_summaries
from tests.conftest import Auth, create_user

HX = {"HX-Request": "true"}

# Nothing the importer lets in looks like most of these; the URLs must match url_for anyway.
AWKWARD_IDS = [
    "squad",  # a bare legacy name
    "acme/movie-reviews",
    "user/name with spaces",
    " leading and trailing ",
    "ünïcödé/データセット",
    "emoji/😀",
    "percent/100%",
    "percent/%2F%20already-quoted",
    "query/a?b=c&d=e",
    "fragment/a#b",
    "dots/../../etc/passwd",
    "..",
    "a/./b",
    "double//slash",
    "/leading-slash",
    "trailing/",
    "quotes/'single'\"double\"",
    "html/<script>alert(1)</script>",
    "reserved/!$&'()*+,;=:@",
    "unreserved/-._~",
    "back\\slash",
    "control/tab\there\nnewline",
    "plus/a+b",
]


def expected(repo_id: str) -> RowUrls:
    return RowUrls(*(url_for(endpoint, repo_id=repo_id) for endpoint in ROW_ENDPOINTS))


@pytest.mark.parametrize("base_url", ["http://localhost", "https://example.org/mounted/under"])
def test_dataset_urls_are_url_fors(app, base_url):
    with app.test_request_context("/datasets", base_url=base_url):
        urls = DatasetUrls()
        assert None not in urls.prefixes  # the cheap way, not url_for again
        for repo_id in AWKWARD_IDS:
            assert urls(repo_id) == expected(repo_id), repo_id


def test_dataset_urls_fall_back_to_url_for_for_other_shapes():
    """A rule of another shape, or a url_defaults hook adding to the URL: url_for itself."""
    other = Flask(__name__)
    other.add_url_rule("/datasets/<path:repo_id>", "datasets.show")
    other.add_url_rule("/follows/<path:repo_id>/set", "follows.set_following")
    other.add_url_rule("/selection/<path:repo_id>", "combinations.select_dataset")

    @other.url_defaults
    def add_version(endpoint, values):
        if endpoint == "combinations.select_dataset":
            values["v"] = "2"

    with other.test_request_context("/"):
        urls = DatasetUrls()
        assert urls.prefixes[0] is not None and urls.prefixes[1:] == [None, None]
        for repo_id in AWKWARD_IDS:
            assert urls(repo_id) == expected(repo_id), repo_id


ROW_RE = re.compile(r'<li class="dataset-row">.*?</li>\s*(?=<li class="dataset-row">|</ol>)', re.S)
FORM_RE = re.compile(r'<form class="(follow|select)-form".*?</form>', re.S)
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def forms_of_row(body: str, repo_id: str) -> dict[str, str]:
    link = f'<a href="/datasets/{repo_id}">{repo_id}</a>'
    (row,) = [row for row in ROW_RE.findall(body) if link in row]
    return {match.group(1): match.group(0) for match in FORM_RE.finditer(row)}


def same_markup(form: str) -> str:
    """Whitespace aside, and with the token's value out (it is signed with the time)."""
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", TOKEN_RE.sub("TOKEN", form))).strip()


@pytest.mark.parametrize("repo_id", ["squad", "acme/movie-reviews"])
def test_a_row_draws_the_forms_its_buttons_swap_in(client, small_catalog, repo_id):
    create_user("reader@example.com")
    Auth(client).login("reader@example.com")
    page = "/datasets?per_page=50&sort=likes"
    before = client.get(page, headers=HX).get_data(as_text=True)
    tokens = set(TOKEN_RE.findall(before))
    assert len(tokens) == 1  # one token for the page, as csrf_token() gives each call
    forms = forms_of_row(before, repo_id)
    assert set(forms) == {"follow", "select"}
    assert f'action="/follows/{repo_id}"' in forms["follow"]
    assert f'action="/selection/{repo_id}"' in forms["select"]

    # Press both buttons as htmx does (the page's token and the form's own fields): each answer
    # is the pressed state's button, and the page drawn again has exactly that button.
    swapped = {}
    for kind, form in forms.items():
        action = re.search(r' action="([^"]+)"', form).group(1)
        fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))
        assert fields["next"] == "/datasets?sort=likes&amp;per_page=50"
        fields["next"] = fields["next"].replace("&amp;", "&")
        response = client.post(action, data=fields, headers=HX)
        assert response.status_code == 200, response.get_data(as_text=True)
        swapped[kind] = FORM_RE.search(response.get_data(as_text=True)).group(0)
        assert 'aria-pressed="true"' in swapped[kind]

    after = forms_of_row(client.get(page, headers=HX).get_data(as_text=True), repo_id)
    for kind in ("follow", "select"):
        assert same_markup(after[kind]) == same_markup(swapped[kind])
        assert same_markup(after[kind]) != same_markup(forms[kind])


def test_a_page_without_rows_asks_for_no_csrf_token(client, small_catalog):
    """No rows, no forms: the fragment stays the same for every visitor (and cacheable)."""
    response = client.get("/datasets?q=nothing+matches+this+zzzz", headers=HX)
    body = response.get_data(as_text=True)
    assert "No datasets found" in body and "csrf_token" not in body
    assert "Set-Cookie" not in response.headers


def test_signed_out_rows_carry_the_sessions_token(client, small_catalog):
    body = client.get("/datasets?per_page=50", headers=HX).get_data(as_text=True)
    tokens = TOKEN_RE.findall(body)
    assert len(tokens) == 2 * 45 and len(set(tokens)) == 1
    # The token works: following while signed out asks to sign in (not a CSRF failure).
    response = client.post(
        "/follows/squad", data={"csrf_token": tokens[0], "action": "follow", "next": "/datasets"}
    )
    assert response.status_code == 303 and "/auth/login" in response.location


# The rows' summaries are kept rendered per process (DatasetRows.summary): shared by everyone,
# never stale.
def summary_of_row(body: str, repo_id: str) -> str:
    link = f'<a href="/datasets/{repo_id}">{repo_id}</a>'
    (row,) = [row for row in ROW_RE.findall(body) if link in row]
    return FORM_RE.sub("", row)


def test_a_kept_summary_shows_the_rows_current_figures(client, small_catalog):
    clear_summaries()
    page = "/datasets?q=squad"
    first = client.get(page, headers=HX).get_data(as_text=True)
    assert client.get(page, headers=HX).get_data(as_text=True) == first  # drawn from the kept one
    dataset = db.session.scalar(select(Dataset).where(Dataset.repo_id == "squad"))
    dataset.downloads, dataset.license = 1_234_567, "cc0-1.0"
    db.session.flush()
    mark_changed(db.session, [dataset.id])
    db.session.commit()
    row = summary_of_row(client.get(page, headers=HX).get_data(as_text=True), "squad")
    assert 'title="1,234,567">1.2M</dd>' in row and "<dd>cc0-1.0</dd>" in row
    assert row != summary_of_row(first, "squad")


def test_summaries_are_shared_but_each_person_gets_their_own_buttons(app, small_catalog):
    clear_summaries()
    clients = {}
    for email in ("ann@example.com", "bob@example.com"):
        user = create_user(email)
        clients[email] = app.test_client()
        Auth(clients[email]).login(email)
    squad = db.session.scalar(select(Dataset).where(Dataset.repo_id == "squad"))
    follows.set_following(db.session, user.id, squad.id, True)  # Bob follows it, Ann does not
    db.session.commit()
    page = "/datasets?q=squad"
    ann = clients["ann@example.com"].get(page, headers=HX).get_data(as_text=True)
    bob = clients["bob@example.com"].get(page, headers=HX).get_data(as_text=True)
    assert summary_of_row(bob, "squad") == summary_of_row(ann, "squad")
    pressed = {
        name: forms_of_row(body, "squad")["follow"] for name, body in (("ann", ann), ("bob", bob))
    }
    assert 'aria-pressed="false"' in pressed["ann"] and 'aria-pressed="true"' in pressed["bob"]
    assert TOKEN_RE.findall(ann)[0] != TOKEN_RE.findall(bob)[0]


def test_a_kept_summary_says_how_long_ago_as_of_each_page(app, small_catalog):
    dataset = db.session.scalar(select(Dataset).where(Dataset.last_modified.is_not(None)))
    with app.test_request_context("/datasets"):
        rows = DatasetRows("/datasets", "token", set(), set(), {})
        rows.now = dataset.last_modified.replace(tzinfo=UTC) + timedelta(days=3)
        assert ">3 days ago</time>" in rows.summary(dataset, "/datasets/x")
        rows.now += timedelta(days=400)
        assert ">1 year ago</time>" in rows.summary(dataset, "/datasets/x")


def test_a_semantic_row_shows_its_similarity_and_the_same_summary(app, small_catalog):
    dataset = db.session.scalar(select(Dataset).where(Dataset.repo_id == "squad"))
    with app.test_request_context("/datasets"):
        rows = DatasetRows("/datasets", "token", set(), set(), {})
        plain = str(rows.summary(dataset, "/datasets/squad"))
        scored = str(rows.summary(dataset, "/datasets/squad", 0.8312))
    assert "<dt>Similarity</dt><dd>0.83</dd>" in scored and "Similarity" not in plain
    without = scored.replace("<div><dt>Similarity</dt><dd>0.83</dd></div>", "")
    assert same_markup(without) == same_markup(plain)
