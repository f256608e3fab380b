"""The browse page as a browser and as htmx see it."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def catalog(small_catalog):
    return small_catalog


def text(response) -> str:
    return response.get_data(as_text=True)


def test_root_leads_to_the_catalog(client):
    response = client.get("/")
    assert response.status_code == 302 and response.location.endswith("/datasets")


def test_full_page_renders_the_page_around_the_results_fragment(client, rendered_templates):
    response = client.get("/datasets")
    assert response.status_code == 200
    assert rendered_templates == ["catalog/browse.html"]
    assert {"HX-Request", "HX-Boosted", "HX-History-Restore-Request"} <= set(response.vary)
    body = text(response)
    assert "<h1>Datasets</h1>" in body
    assert '<h2 id="results-heading" tabindex="-1">Showing 1–20 of 45 datasets</h2>' in body
    assert "hx-swap-oob" not in body


def test_htmx_request_gets_only_the_fragment_with_an_out_of_band_count(client, rendered_templates):
    response = client.get("/datasets?q=speech", headers=HX)
    assert response.status_code == 200
    assert rendered_templates == ["catalog/_results.html"]
    body = text(response)
    assert "<h1>" not in body and "<html" not in body
    assert '<p id="results-status" hx-swap-oob="innerHTML">' in body
    assert "3 datasets" in body
    assert "HX-Request" in response.vary


@pytest.mark.parametrize("extra", [{"HX-Boosted": "true"}, {"HX-History-Restore-Request": "true"}])
def test_boosted_and_history_restore_requests_get_the_full_page(client, rendered_templates, extra):
    response = client.get("/datasets?q=speech", headers={**HX, **extra})
    assert response.status_code == 200
    assert rendered_templates[0] == "catalog/browse.html"
    assert "HX-Request" in response.vary


def test_results_rows_show_what_a_person_scans(client):
    body = text(client.get("/datasets?q=movie"))
    assert 'href="/datasets/acme/movie-reviews"' in body
    assert "Movie Reviews" in body
    assert "Text classification" in body  # task badge
    assert "mit" in body and "10K&lt;n&lt;100K" in body
    assert 'title="900,000"' in body and ">900k<" in body  # downloads, compact with exact title
    assert '<time datetime="2024-05-01T00:00:00Z"' in body


def test_facets_show_counts_and_selected_values_are_checked(client):
    body = text(client.get("/datasets?modality=audio"))
    checked = re.findall(r'name="(\w+)" value="([^"]+)"[^>]*\schecked>', body)
    assert checked == [("modality", "audio")]
    assert "Showing 1–3 of 3 datasets" in body
    assert 'aria-label="Remove filter Modality: Audio"' in body


def test_chips_and_clear_all_keep_the_rest_of_the_query(client):
    body = text(client.get("/datasets?q=speech&modality=audio&license=cc0-1.0&sort=name"))
    assert 'href="/datasets?q=speech&amp;sort=name&amp;modality=audio"' in body  # licence removed
    assert 'class="clear-all" href="/datasets?q=speech&amp;sort=name"' in body


def test_pagination_links_and_rel_prev_next(client):
    body = text(client.get("/datasets?page=2"))
    assert "Showing 21–40 of 45 datasets" in body
    assert '<link rel="prev" href="/datasets">' in body
    assert '<link rel="next" href="/datasets?page=3">' in body
    assert 'rel="next"' in body and 'aria-current="page"' in body
    assert 'start="21"' in body


def test_page_size_choice_is_kept_in_links(client):
    body = text(client.get("/datasets?per_page=50&sort=name"))
    assert "Showing 1–45 of 45 datasets" in body
    assert 'class="pagination"' not in body


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("page=abc", "is not a page number"),
        ("page=-1", "is not a page number"),
        ("page=0", "is not a page number"),
        ("page=99", "Page 99 is past the end; showing page 3 of 3."),
        ("per_page=10000", "Results per page can be 20, 50, 100"),
        ("sort=nonsense", "Unknown sort"),
        ("license=not-a-licence", "No dataset has licence “not-a-licence”"),
        ("q=" + "x" * 2000, "The search was cut to its first 200 characters."),
    ],
)
def test_invalid_parameters_get_a_message_and_a_usable_page(client, query, message):
    response = client.get(f"/datasets?{query}")
    assert response.status_code == 400
    body = text(response)
    assert message in body
    assert 'role="alert"' in body
    assert "<h1>Datasets</h1>" in body
    assert 'id="browse-results"' in body


def test_invalid_parameters_in_htmx_push_the_corrected_url(client):
    response = client.get("/datasets?page=99&sort=bogus&q=weather", headers=HX)
    assert response.status_code == 400
    pushed = urlsplit(response.headers["HX-Push-Url"])
    assert pushed.path == "/datasets"
    assert parse_qs(pushed.query) == {"q": ["weather"], "page": ["2"]}


def test_empty_results_explain_and_offer_to_clear(client):
    body = text(client.get("/datasets?q=weather&license=mit"))
    assert "No dataset matches “weather” with the filters you chose." in body
    assert ">Clear the filters</a>" in body and ">Clear the search</a>" in body


def test_user_text_is_escaped(client):
    body = text(client.get("/datasets?q=<script>alert(1)</script>"))
    assert "<script>alert(1)" not in body
    assert "&lt;script&gt;" in body


def test_dataset_page_shows_the_mirror_even_with_the_hub_unreachable(client):
    response = client.get("/datasets/acme/movie-reviews")
    assert response.status_code == 200
    body = text(response)
    assert "<h1>acme/movie-reviews</h1>" in body
    assert "The Hub is unreachable" in body


def test_unknown_dataset_with_the_hub_unreachable_is_a_503_with_a_retry(client, rendered_templates):
    response = client.get("/datasets/nobody/nothing")
    assert response.status_code == 503
    assert "Try again" in text(response)
    assert rendered_templates[0] == "datasets/unavailable.html"
    rendered_templates.clear()
    response = client.get("/datasets/nobody/nothing", headers=HX)
    assert response.status_code == 503
    assert rendered_templates[0] == "datasets/_unavailable.html"


def test_an_invalid_dataset_id_is_a_404_without_asking_the_hub(client):
    response = client.get("/datasets/a/b/c/d")
    assert response.status_code == 404
    assert "Dataset not found" in text(response)


def test_old_names_redirect_to_the_current_id(client, tmp_path):
    from app.catalog.importer import import_file
    from app.extensions import db
    from tests.catalog.test_importer import write_lines

    import_file(
        db.session,
        write_lines(tmp_path / "r.jsonl", [{"id": "rajpurkar/squad", "aliases": ["squad-old"]}]),
    )
    response = client.get("/datasets/squad-old")
    assert response.status_code == 301
    assert response.location.endswith("/datasets/rajpurkar/squad")


def test_security_headers_on_pages(client):
    response = client.get("/datasets")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_no_get_route_writes(client):
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Dataset, DatasetFacet

    before = (
        db.session.scalar(select(func.count(Dataset.id))),
        db.session.scalar(select(func.count()).select_from(DatasetFacet)),
    )
    for url in ("/datasets?q=a", "/datasets/acme/movie-reviews", "/health", "/"):
        client.get(url)
    after = (
        db.session.scalar(select(func.count(Dataset.id))),
        db.session.scalar(select(func.count()).select_from(DatasetFacet)),
    )
    assert before == after


def test_all_values_of_a_facet_page_keeps_the_other_filters(client, tmp_path):
    from app.catalog.importer import import_file
    from app.extensions import db
    from tests.catalog.test_importer import write_lines

    many = [
        {"id": f"lang/set-{code}", "language": [code], "license": "mit"}
        for code in "abcdefghijklmnop"
    ]
    import_file(db.session, write_lines(tmp_path / "langs.jsonl", many))
    browse = text(client.get("/datasets?license=mit"))
    assert 'href="/facets/language?license=mit"' in browse  # more than 12 languages
    response = client.get("/facets/language?license=mit&q=set&language=p")
    assert response.status_code == 200
    body = text(response)
    assert '<input type="hidden" name="license" value="mit">' in body
    assert '<input type="hidden" name="q" value="set">' in body
    assert re.search(r'name="language" value="p" checked', body)
    assert body.count('name="language"') == 16  # every value among the matching datasets


def test_all_values_of_an_unknown_facet_is_404(client):
    assert client.get("/facets/colour").status_code == 404


def test_a_search_with_nothing_searchable_is_no_search(client):
    body = text(client.get("/datasets?q=%2F"))
    assert "Showing 1–20 of 45 datasets" in body
    assert "Search: “/”" not in body
