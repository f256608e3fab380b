"""Every route of app.url_map, driven with arbitrary input by Hypothesis.

GET routes get arbitrary path segments and query strings (repeated parameters, huge numbers,
Unicode, control characters, broken percent-encoding); POST routes get arbitrary forms, with a
valid CSRF token, a wrong one or none, signed in or not, as htmx or as a plain form. Whatever
comes in, the answer is never a 5xx, never shows a traceback, and never redirects to another
host (Location, HX-Redirect and HX-Location stay relative or on the app's own host).

The routes are read from the app, so a new route is fuzzed without anyone listing it here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from app import create_app
from app.config import TestConfig
from app.extensions import db, limiter
from app.models import Dataset
from tests.conftest import FIXTURES, Auth, create_user, empty_tables, load_jsonl
from tests.fakehub import FakeHub
from tests.fuzz.conftest import TALLY, fuzz_settings
from tests.hub.conftest import talking_to

ANN = "fuzz-ann@example.com"


def _rules() -> list:
    application = create_app(TestConfig("sqlite://"))
    rules = sorted(application.url_map.iter_rules(), key=lambda rule: (rule.rule, rule.endpoint))
    with application.app_context():
        db.engine.dispose()
    return rules


RULES = _rules()
GET_RULES = [rule for rule in RULES if "GET" in rule.methods]
POST_RULES = [rule for rule in RULES if "POST" in rule.methods]

# --- What arbitrary input is made of -------------------------------------------------------------

# Every Unicode category but lone surrogates (they cannot be encoded in a URL or a form).
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)
control = st.text(
    st.characters(max_codepoint=0x1F) | st.sampled_from("\x7f\u2028\ufeff"), max_size=5
)
huge = st.sampled_from(
    [
        "9" * 400,
        "-" + "9" * 40,
        "1e309",
        "-1e309",
        "nan",
        "inf",
        "0x10",
        "1_000",
        "١٢٣",  # Arabic-Indic digits: str.isdigit() says yes
        "²",
        "18446744073709551616",
        "-0",
        "x" * 5000,
    ]
)
numbers = st.integers(min_value=-(2**70), max_value=2**70).map(str) | st.floats().map(str)
hostile = st.sampled_from(
    [
        "",
        " ",
        "'",
        '"',
        "\\",
        "%",
        "%00",
        "%ff%fe",
        "%2e%2e%2f",
        "../../etc/passwd",
        "..",
        "//evil.example",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "<script>alert(1)</script>",
        "' OR 1=1--",
        'a" OR "1"="1',
        "*",
        "NEAR(a b)",
        "a:b",
        "-x",
        '"unclosed',
        "\x00",
        "\r\nSet-Cookie: a=b",
    ]
)
value = st.one_of(text, numbers, huge, hostile, control, text.map(lambda t: t * 50))

KNOWN_PARAMETERS = [
    "q",
    "page",
    "per_page",
    "sort",
    "task",
    "language",
    "license",
    "modality",
    "size",
    "topic",
    "mode",
    "next",
    "show",
    "v",
    "action",
]
key = st.sampled_from(KNOWN_PARAMETERS) | text.filter(bool)
pairs = st.lists(st.tuples(key, value), max_size=8)


@st.composite
def query_strings(draw) -> str:
    """Pairs (keys repeated at will) URL-encoded, or raw text with broken escapes in it."""
    if draw(st.integers(0, 4)) == 0:
        raw = draw(st.lists(text | hostile, max_size=4))
        return "&".join(quote(piece, safe="=&%+") for piece in raw)
    return urlencode(draw(pairs))


FORM_FIELDS = [
    "email",
    "password",
    "current_password",
    "new_password",
    "confirm",
    "remember",
    "name",
    "action",
    "next",
    "method",
    "temperature",
    "strategy",
    "seed",
    "manifest_text",
    "weight-1",
]
form_key = st.sampled_from(FORM_FIELDS) | text.filter(bool)

# --- The site being fuzzed ---------------------------------------------------------------------


def plain_client(app: Flask) -> FlaskClient:
    """A client whose every request has its own app context, as in production (the tests'
    RequestIsolatingClient expects a context pushed by the test)."""
    return FlaskClient(app, app.response_class, use_cookies=True)


@dataclass
class Site:
    app: Flask
    anonymous: object = None
    signed_in: object = None
    token: str = ""
    valid: dict[str, list[str]] = field(default_factory=dict)

    def sign_in(self) -> None:
        """(Again) as Ann, who a fuzzed form may have signed out, renamed or deleted."""
        from app.auth.accounts import find_by_email

        with self.app.app_context():
            if find_by_email(db.session, ANN) is None:
                create_user(ANN)
            db.session.remove()
        self.signed_in = plain_client(self.app)
        auth = Auth(self.signed_in)
        assert auth.login(ANN).status_code == 303
        self.token = auth.csrf_token()
        self.refresh_ids()

    def refresh_ids(self) -> None:
        """The ids that lead somewhere: Ann's combination (made again if a form deleted it),
        its share token, her feed token, a job."""
        from app.auth.accounts import find_by_email
        from app.combinations import service
        from app.follows.feed import feed_token
        from app.jobs.engines import submit
        from app.models import Combination

        with self.app.app_context():
            ann = find_by_email(db.session, ANN)
            combination = db.session.scalar(
                db.select(Combination).where(Combination.user_id == ann.id).limit(1)
            )
            if combination is None:
                combination = service.create(db.session, ann.id, "fuzzed")
                for repo_id in self.valid["repo_id"][:2]:
                    dataset = db.session.scalar(
                        db.select(Dataset).where(Dataset.repo_id == repo_id)
                    )
                    service.set_member(db.session, combination, dataset, True)
            share = service.share(db.session, combination)
            db.session.commit()
            job = submit(self.app, "embed", {"dataset_ids": [1]})
            self.valid.update(
                combination_id=[str(combination.id)],
                token=[share, feed_token(db.session, ann)],
                job_id=[str(job.id)],
            )
            db.session.commit()
            db.session.remove()


@pytest.fixture(scope="module")
def site(migrated_app: Flask):
    """The small catalog, Ann signed in, the fake Hub knowing a few datasets; rate limits off so
    every example reaches its view (the limits have tests of their own)."""
    with migrated_app.app_context():
        empty_tables()
        load_jsonl(FIXTURES / "catalog_small.jsonl")
        repo_ids = list(db.session.scalars(db.select(Dataset.repo_id).order_by(Dataset.id)))
        db.session.remove()
    limiter.enabled = False
    with (
        FakeHub(rate_limit=False) as hub,
        talking_to(migrated_app, hub, HUB_ATTEMPTS=1, HUB_READ_TIMEOUT=0.5, HUB_BUDGET=1.0),
    ):
        for repo_id in repo_ids[:5]:
            hub.add_dataset(repo_id)
        fuzzed = Site(migrated_app, anonymous=plain_client(migrated_app))
        fuzzed.valid = {
            "repo_id": repo_ids[:5],
            "facet": ["task", "language", "license", "modality", "size"],
            "number": ["0", "1"],
            "filename": ["app.css", "app.js", "htmx.min.js", "favicon.svg"],
        }
        fuzzed.sign_in()
        try:
            yield fuzzed
        finally:
            limiter.enabled = True
            with migrated_app.app_context():
                empty_tables()
                db.session.remove()
    assert not hub.errors


# --- Building a request ------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"<(?:(?P<converter>[a-z]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")


@st.composite
def segment(draw, converter: str, name: str, valid: list[str]) -> str:
    """A path segment: a value that leads somewhere, or anything at all (quoted, or with raw
    escapes, dots and slashes in it)."""
    choice = draw(st.integers(0, 9))
    if valid and choice < 3:
        return quote(draw(st.sampled_from(valid)), safe="/")
    if converter == "int" and choice < 6:
        return draw(st.integers(min_value=-(2**70), max_value=2**70).map(str) | huge)
    raw = draw(value)
    safe = "/" if converter == "path" else ""
    piece = quote(raw, safe=safe) or "x"
    if choice == 9:
        piece += draw(st.sampled_from(["%ff", "%00", "%2F", "%2e%2e", "/..", "%", ";x", "\\"]))
    return piece


def build_path(draw, rule, site: Site) -> str:
    def replace(match: re.Match) -> str:
        converter = match.group("converter") or "default"
        name = match.group("name")
        return draw(segment(converter, name, site.valid.get(name, [])))

    return PLACEHOLDER.sub(replace, rule.rule)


HEADER_SETS = st.sampled_from(
    [
        {},
        {"HX-Request": "true"},
        {"HX-Request": "true", "HX-Boosted": "true"},
        {"HX-Request": "true", "HX-History-Restore-Request": "true"},
        {"HX-Request": "true", "HX-Target": "results"},
    ]
)


def same_host(location: str) -> bool:
    location = location.strip()
    if location.startswith("{"):  # HX-Location may be JSON
        try:
            location = str(json.loads(location).get("path", ""))
        except ValueError:
            return False
    if re.match(r"^[/\\]{2}", location) or location.startswith("/\\"):
        return False  # protocol-relative: another host
    parts = urlsplit(location)
    if parts.scheme and parts.scheme not in ("http", "https"):
        return False
    return not parts.netloc or parts.hostname == "localhost"


def check(response, label: str) -> None:
    TALLY[label][response.status_code] += 1
    body = response.get_data()
    response.close()  # a static file's handle
    where = f"{label}: {response.request.method} {response.request.url}"
    assert response.status_code < 500, f"{where} -> {response.status_code}\n{body[:800]!r}"
    assert b"Traceback (most recent call last)" not in body, where
    assert b"werkzeug.debug" not in body.lower(), where
    for header in ("Location", "HX-Redirect", "HX-Location"):
        target = response.headers.get(header)
        if target is not None:
            assert same_host(target), f"{where} -> {header}: {target!r}"


# --- The tests ---------------------------------------------------------------------------------


def rule_id(rule) -> str:
    return rule.rule


@pytest.mark.parametrize("rule", GET_RULES, ids=rule_id)
@fuzz_settings()
@given(data=st.data())
def test_get_routes_answer_any_path_and_query_without_failing(site, rule, data):
    path = build_path(data.draw, rule, site)
    query = data.draw(query_strings())
    client = site.signed_in if data.draw(st.booleans()) else site.anonymous
    response = client.get(path, query_string=query, headers=data.draw(HEADER_SETS))
    check(response, f"GET {rule.rule}")


# Forms that may sign Ann out or change her account: she signs in again after them.
ACCOUNT_CHANGING = {
    "auth.logout",
    "auth.delete_account",
    "auth.change_email",
    "auth.change_password",
    "combinations.delete",
}


@pytest.mark.parametrize("rule", POST_RULES, ids=rule_id)
@fuzz_settings()
@given(data=st.data())
def test_post_routes_answer_any_form_without_failing(site, rule, data):
    path = build_path(data.draw, rule, site)
    signed_in = data.draw(st.booleans())
    client = site.signed_in if signed_in else site.anonymous
    form = MultiDict(data.draw(st.lists(st.tuples(form_key, value), max_size=8)))
    if rule.endpoint.endswith(("set_following", "select_dataset", "set_member")):
        form.add("action", data.draw(st.sampled_from(["follow", "unfollow", "add", "remove"])))
    csrf = data.draw(st.sampled_from(["valid", "valid", "missing", "wrong", "header"]))
    token = site.token if signed_in else _anonymous_token(site)
    headers = dict(data.draw(HEADER_SETS))
    if csrf == "valid":
        form.add("csrf_token", token)
    elif csrf == "wrong":
        form.add("csrf_token", data.draw(value))
    elif csrf == "header":
        headers["X-CSRFToken"] = token
    query = data.draw(st.just("") | query_strings())
    response = client.post(path, data=form, query_string=query, headers=headers)
    check(response, f"POST {rule.rule}")
    if signed_in and rule.endpoint in ACCOUNT_CHANGING:
        site.sign_in()


def _anonymous_token(site: Site) -> str:
    if "anonymous" not in site.valid:
        site.valid["anonymous"] = [Auth(site.anonymous).csrf_token()]
    return site.valid["anonymous"][0]


def test_every_route_is_fuzzed():
    """A route added later is in one of the lists above (they are read from url_map)."""
    methods = {method for rule in RULES for method in rule.methods} - {"HEAD", "OPTIONS"}
    assert methods <= {"GET", "POST"}, f"a method nobody fuzzes: {methods}"
    assert {rule.endpoint for rule in GET_RULES + POST_RULES} == {r.endpoint for r in RULES}
