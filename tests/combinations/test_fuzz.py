"""Arbitrary input to the combination forms and the manifest import never fails the server."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.extensions import db
from app.models import Combination, Dataset
from tests.combinations.test_views import post, select_dataset
from tests.conftest import Auth, create_user

any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200) | st.sampled_from(
    ["", " ", "\x00", "-1", "0", "1e308", "nan", "inf", "2", "x" * 3000, "<script>", "equal"]
)
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ANSWERS = {200, 303, 400, 404, 409, 422}


@pytest.fixture
def ann_with_a_mix(app, client, small_catalog):
    create_user("ann@example.com")
    assert Auth(client).login("ann@example.com").status_code == 303
    for repo_id in ("squad", "acme/movie-reviews"):
        select_dataset(client, repo_id)
    return client, db.session.scalar(select(Combination))


@FUZZ
@given(values=st.lists(any_text, min_size=6, max_size=6))
def test_the_mix_form_answers_every_input_clearly(ann_with_a_mix, values):
    client, combination = ann_with_a_mix
    squad = db.session.scalar(select(Dataset).where(Dataset.repo_id == "squad"))
    fields = ["method", "temperature", "strategy", "seed", f"weight-{squad.id}", "extra"]
    response = post(
        client, f"/combinations/{combination.id}/mix", dict(zip(fields, values, strict=True))
    )
    assert response.status_code in ANSWERS
    assert "Traceback" not in response.get_data(as_text=True)


@FUZZ
@given(name=any_text)
def test_names_are_accepted_or_refused_with_a_message(ann_with_a_mix, name):
    client, combination = ann_with_a_mix
    for url in ("/combinations", f"/combinations/{combination.id}/rename"):
        response = post(client, url, {"name": name})
        assert response.status_code in ANSWERS, url


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=20,
)
manifests = st.fixed_dictionaries(
    {"format": st.just("dataset-explorer/combination"), "version": st.just(1)},
    optional={
        "name": json_values,
        "mix": json_values,
        "datasets": st.lists(
            st.fixed_dictionaries(
                {"repo_id": st.sampled_from(["squad", "acme/movie-reviews", "x/y"]) | any_text},
                optional={"weight": json_values, "revision": json_values},
            ),
            max_size=5,
        )
        | json_values,
    },
)


@FUZZ
@given(manifest=manifests)
def test_any_manifest_is_imported_or_refused_with_a_message(ann_with_a_mix, manifest):
    client, _ = ann_with_a_mix
    raw = json.dumps(manifest, allow_nan=True).encode()
    response = post(
        client,
        "/combinations/import",
        {"manifest": (io.BytesIO(raw), "m.json")},
        content_type="multipart/form-data",
    )
    assert response.status_code in {303, 409, 422}, response.get_data(as_text=True)[:500]


def test_an_import_named_like_an_existing_combination_gets_a_free_name(ann_with_a_mix):
    """Non-ASCII capitals: SQLite's lower() leaves them alone, so both sides are compared alike."""
    client, _ = ann_with_a_mix
    raw = json.dumps(
        {
            "format": "dataset-explorer/combination",
            "version": 1,
            "name": "Ørsted ÉTÉ",
            "datasets": [{"repo_id": "squad"}],
        }
    ).encode()
    for _ in range(2):
        response = post(
            client,
            "/combinations/import",
            {"manifest": (io.BytesIO(raw), "m.json")},
            content_type="multipart/form-data",
        )
        assert response.status_code == 303
    names = set(db.session.scalars(select(Combination.name)))
    assert {"Ørsted ÉTÉ", "Ørsted ÉTÉ (2)"} <= names


HUGE = 10**5000  # str() refuses ints this long; float() overflows on them


@pytest.mark.parametrize(
    "manifest",
    [
        {"mix": {"seed": HUGE}, "datasets": [{"repo_id": "squad"}]},
        {"mix": {"temperature": HUGE}, "datasets": [{"repo_id": "squad"}]},
        {"mix": {"seed": 1e308}, "datasets": [{"repo_id": "squad"}]},
        {"mix": {"seed": 2.5}, "datasets": [{"repo_id": "squad"}]},
        {"datasets": [{"repo_id": "squad", "weight": HUGE}]},
        {"datasets": [{"repo_id": "squad", "weight": float("inf")}]},
        {"datasets": [{"repo_id": HUGE}]},
        {"name": HUGE, "version": HUGE, "datasets": [{"repo_id": "squad"}]},
    ],
)
def test_numbers_too_big_for_floats_or_strings_are_refused_clearly(ann_with_a_mix, manifest):
    client, _ = ann_with_a_mix
    import sys

    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # so the test can write the manifest at all
    try:
        raw = json.dumps(
            {"format": "dataset-explorer/combination", "version": 1, **manifest}
        ).encode()
    finally:
        sys.set_int_max_str_digits(limit)
    response = post(
        client,
        "/combinations/import",
        {"manifest": (io.BytesIO(raw), "m.json")},
        content_type="multipart/form-data",
    )
    assert response.status_code in {303, 422}
