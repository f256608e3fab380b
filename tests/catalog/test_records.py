import json
from datetime import UTC, datetime

import pytest

from app.catalog.records import RecordError, is_valid_repo_id, record_from_raw
from tests.conftest import shared_dir


def test_snapshot_record_shape_is_normalised():
    record = record_from_raw(
        {
            "id": "imdb",
            "author": "huggingface",
            "pretty_name": "IMDB",
            "description": "Movie   reviews\nfor sentiment.",
            "created_at": "2022-01-25T15:34:04Z",
            "downloads": 230011,
            "domain": "nlp",
            "task_categories": ["text-classification"],
            "license": ["other"],
            "language": ["en"],
            "size_categories": ["10K<n<100K"],
            "tags": [],
            "sizes": {"dataset_size": 133190346, "num_examples": 100000},
        }
    )
    assert record.repo_id == "imdb"
    assert record.description == "Movie reviews for sentiment."
    assert record.license == "other"
    assert record.languages == ["en"]
    assert record.modalities == ["text"]
    assert record.size_category == "10K<n<100K"
    assert record.num_rows == 100000 and record.num_bytes == 133190346
    assert record.created_at == datetime(2022, 1, 25, 15, 34, 4, tzinfo=UTC)
    assert ("task", "text-classification") in record.facet_pairs()


def test_hub_api_item_reads_prefixed_tags_and_card_data():
    record = record_from_raw(
        {
            "_id": "621ffdd236468d709f181d58",
            "id": "rajpurkar/squad",
            "author": "rajpurkar",
            "lastModified": "2024-03-04T13:54:37.000Z",
            "createdAt": "2022-03-02T23:29:22.000Z",
            "gated": "manual",
            "likes": 300,
            "downloads": 97000,
            "trendingScore": 4,
            "tags": [
                "task_categories:question-answering",
                "language:en",
                "license:cc-by-sa-4.0",
                "size_categories:10K<n<100K",
                "modality:text",
                "format:parquet",
                "wikipedia",
            ],
            "cardData": {"pretty_name": "SQuAD"},
        }
    )
    assert record.pretty_name == "SQuAD"
    assert record.task_categories == ["question-answering"]
    assert record.languages == ["en"]
    assert record.license == "cc-by-sa-4.0"
    assert record.size_category == "10K<n<100K"
    assert record.modalities == ["text"]
    assert record.tags == ["wikipedia"]
    assert record.gated is True
    assert record.likes == 300 and record.trending_score == 4.0
    assert record.last_modified == datetime(2024, 3, 4, 13, 54, 37, tzinfo=UTC)


def test_per_config_size_categories_take_the_largest_bucket():
    record = record_from_raw(
        {"id": "ms_marco", "size_categories": ["v1.1:10K<n<100K", "v2.1:1M<n<10M"]}
    )
    assert record.size_category == "1M<n<10M"


def test_size_bucket_is_derived_from_rows_when_missing():
    assert (
        record_from_raw({"id": "a/b", "sizes": {"num_examples": 5000}}).size_category == "1K<n<10K"
    )


def test_modalities_are_implied_by_tasks():
    record = record_from_raw({"id": "a/b", "task_categories": ["image-to-text"]})
    assert record.modalities == ["image", "text"]


@pytest.mark.parametrize(
    "raw",
    [
        [],
        "squad",
        {"id": None},
        {"id": ""},
        {"id": "../etc/passwd"},
        {"id": "a/b/c"},
        {"id": "has space"},
        {"id": "x" * 300},
    ],
)
def test_lines_that_are_not_datasets_are_refused_with_a_reason(raw):
    with pytest.raises(RecordError):
        record_from_raw(raw)


def test_wrongly_typed_fields_are_dropped_not_fatal():
    record = record_from_raw(
        {
            "id": "a/b",
            "downloads": "many",
            "likes": -3,
            "created_at": "yesterday",
            "license": 42,
            "language": [1, None, "EN"],
            "tags": "single",
            "num_rows": 10**30,
        }
    )
    assert record.downloads is None and record.likes is None and record.created_at is None
    assert record.license is None
    assert record.languages == ["en"]
    assert record.tags == ["single"]
    assert record.num_rows is None


@pytest.mark.parametrize("repo_id", ["squad", "rajpurkar/squad", "a/b.c-d_e", "A1/x"])
def test_valid_repo_ids(repo_id):
    assert is_valid_repo_id(repo_id)


def test_recorded_hub_list_items_normalise():
    samples = shared_dir() / "hub" / "samples"
    for name in (
        "list_datasets_item_rajpurkar_squad_expand.json",
        "list_datasets_item_rajpurkar_squad_v2.json",
        "list_datasets_item_2023_acronym_identification.json",
    ):
        payload = json.loads((samples / name).read_text())
        items = payload if isinstance(payload, list) else [payload]
        for item in items:
            record = record_from_raw(item)
            assert record.repo_id == item["id"]
            assert record.downloads == item.get("downloads")


def test_the_hubs_flattened_card_text_is_no_description():
    flattened = (
        "Dataset Card for SQuAD Dataset Summary Stanford Question Answering Dataset (SQuAD) is " * 3
    )
    assert record_from_raw({"id": "a/b", "description": flattened}).description == ""
    assert record_from_raw({"id": "a/b", "description": "Real words."}).description == "Real words."
