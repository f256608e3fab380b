"""Size arithmetic: exact figures, ranges from size categories, unknowns that stay unknown."""

from __future__ import annotations

from app.combinations.report import shares
from app.combinations.sizes import Amount, rows_for_size_category, size_facts, sum_amounts


def test_size_categories_are_ranges_and_the_top_one_is_open():
    assert rows_for_size_category("n<1K") == Amount(0, 999)
    assert rows_for_size_category("10K<n<100K") == Amount(10_000, 99_999)
    assert rows_for_size_category("n>1T") == Amount(1_000_000_000_000, None)
    assert not rows_for_size_category("nonsense").known
    assert not rows_for_size_category(None).known


def test_exact_plus_range_is_a_range_and_an_unknown_part_removes_the_upper_bound():
    assert sum_amounts([Amount.exact(500), Amount(1_000, 9_999)]) == Amount(1_500, 10_499)
    assert sum_amounts([Amount.exact(500), Amount.unknown()]) == Amount(500, None)
    assert sum_amounts([Amount.exact(2), Amount.exact(3)]).is_exact


def test_a_total_of_nothing_known_is_unknown_not_zero():
    assert not sum_amounts([Amount.unknown(), Amount.unknown()]).known


def test_estimates_use_the_value_or_the_middle_of_a_range():
    assert Amount.exact(40).estimate == 40
    assert Amount(100, 10_000).estimate == 1_000  # geometric middle: sqrt(100 * 10,000)
    assert Amount(7, None).estimate == 7  # open range: its lower bound
    assert Amount.unknown().estimate is None


def test_shares_leave_unknown_members_without_a_share_rather_than_zero():
    found = shares([("a", Amount.exact(300)), ("b", Amount.exact(100)), ("c", Amount.unknown())])
    assert [(s.repo_id, s.fraction) for s in found] == [("a", 0.75), ("b", 0.25), ("c", None)]
    ranged = shares([("a", Amount.exact(1_000)), ("b", Amount(100, 10_000))])
    assert ranged[0].fraction == 0.5 and ranged[1].estimated and not ranged[0].estimated


VIEWER = {
    "splits": [
        {"config": "default", "split": "train", "num_rows": 800, "num_bytes": 8_000},
        {"config": "default", "split": "test", "num_rows": 200, "num_bytes": 2_000},
    ],
    "num_rows": 1_000,
    "num_bytes": 10_000,
    "original_bytes": 12_000,
    "partial": False,
    "memory_bytes": 50_000,
}
DETAIL = {
    "sha": "a" * 40,
    "card_sizes": [
        {"config": "default", "split": "train", "num_rows": 790, "num_bytes": 40_000},
        {"config": "default", "split": "test", "num_rows": 200, "num_bytes": 9_000},
    ],
    "card_configs": [{"config": "default", "download_bytes": 20_000, "dataset_bytes": 49_000}],
}


def test_measured_viewer_sizes_win_over_declared_card_sizes():
    facts = size_facts(None, None, "1K<n<10K", DETAIL, VIEWER, None)
    assert facts.rows == Amount.exact(1_000) and facts.rows_source == "the dataset viewer"
    assert facts.parquet_bytes == Amount.exact(10_000)
    assert facts.dataset_bytes == Amount.exact(49_000)  # the card's declared dataset_size
    assert facts.download_bytes == Amount.exact(20_000)
    assert [(s.split, s.rows, s.bytes) for s in facts.splits] == [
        ("train", 800, 8_000),
        ("test", 200, 2_000),
    ]
    assert facts.split_bytes_kind == "Parquet"
    assert facts.train_rows() == Amount.exact(800)


def test_a_partial_viewer_count_is_a_lower_bound():
    facts = size_facts(None, None, None, None, {**VIEWER, "partial": True}, None)
    assert facts.rows == Amount(1_000, None)
    assert facts.train_rows() == Amount(800, None)


def test_the_card_stands_in_when_the_viewer_has_nothing():
    facts = size_facts(None, None, None, DETAIL, {"missing": True}, None)
    assert facts.rows == Amount.exact(990) and facts.rows_source == "the dataset card"
    assert not facts.parquet_bytes.known
    assert facts.split_bytes_kind == "in memory"


def test_without_the_hub_the_catalog_then_the_size_category_answer():
    assert size_facts(1234, 5678, "1K<n<10K").rows == Amount.exact(1234)
    assert size_facts(1234, 5678, "1K<n<10K").dataset_bytes == Amount.exact(5678)
    only_category = size_facts(None, None, "1K<n<10K")
    assert only_category.rows == Amount(1_000, 9_999)
    assert "size category" in only_category.rows_source
    assert not only_category.dataset_bytes.known and not only_category.download_bytes.known
    nothing = size_facts(None, None, None)
    assert not nothing.rows.known and nothing.train_rows() == nothing.rows


def test_a_multi_config_dataset_plans_the_train_split_of_its_first_configuration():
    detail = {
        "card_sizes": [
            {"config": "cola", "split": "train", "num_rows": 8_551, "num_bytes": 1},
            {"config": "sst2", "split": "train", "num_rows": 67_349, "num_bytes": 1},
        ],
        "card_configs": [
            {"config": "cola", "download_bytes": 1, "dataset_bytes": 1},
            {"config": "sst2", "download_bytes": 2, "dataset_bytes": 2},
        ],
    }
    facts = size_facts(None, None, None, detail, None, None)
    assert facts.configs == ["cola", "sst2"] and facts.primary_config == "cola"
    assert facts.train_rows() == Amount.exact(8_551)
    assert facts.rows == Amount.exact(75_900)


def test_malformed_cached_answers_are_ignored_not_fatal():
    facts = size_facts(None, None, "n<1K", {"card_sizes": "nope"}, ["not", "a", "dict"], 7)
    assert facts.rows == Amount(0, 999)
