"""The fixed vocabularies of the catalog: facets, sorts, size buckets, modalities."""

from __future__ import annotations

# Facet name in URLs -> label shown to people.
FACETS: dict[str, str] = {
    "task": "Task",
    "modality": "Modality",
    "language": "Language",
    "license": "Licence",
    "size": "Size",
}

# Sort key in URLs -> label.
SORTS: dict[str, str] = {
    "relevance": "Best match",
    "downloads": "Most downloaded",
    "likes": "Most liked",
    "trending": "Trending",
    "updated": "Recently updated",
    "created": "Recently created",
    "name": "Name (A–Z)",
}

PER_PAGE_CHOICES = (20, 50, 100)
DEFAULT_PER_PAGE = 20

# The Hub's size_categories buckets, smallest first, with their upper bound in rows.
SIZE_BUCKETS: list[tuple[str, float]] = [
    ("n<1K", 1e3),
    ("1K<n<10K", 1e4),
    ("10K<n<100K", 1e5),
    ("100K<n<1M", 1e6),
    ("1M<n<10M", 1e7),
    ("10M<n<100M", 1e8),
    ("100M<n<1B", 1e9),
    ("1B<n<10B", 1e10),
    ("10B<n<100B", 1e11),
    ("100B<n<1T", 1e12),
    ("n>1T", float("inf")),
]
SIZE_ORDER = {name: index for index, (name, _) in enumerate(SIZE_BUCKETS)}

MODALITIES = (
    "text",
    "image",
    "audio",
    "video",
    "tabular",
    "timeseries",
    "3d",
    "geospatial",
    "document",
)

# When a record names no modality, its tasks usually imply one.
TASK_MODALITIES: dict[str, tuple[str, ...]] = {
    "image-classification": ("image",),
    "object-detection": ("image",),
    "image-segmentation": ("image",),
    "depth-estimation": ("image",),
    "image-to-image": ("image",),
    "unconditional-image-generation": ("image",),
    "zero-shot-image-classification": ("image",),
    "image-to-text": ("image", "text"),
    "text-to-image": ("image", "text"),
    "visual-question-answering": ("image", "text"),
    "document-question-answering": ("document", "text"),
    "image-text-to-text": ("image", "text"),
    "automatic-speech-recognition": ("audio",),
    "audio-classification": ("audio",),
    "text-to-speech": ("audio", "text"),
    "text-to-audio": ("audio", "text"),
    "audio-to-audio": ("audio",),
    "voice-activity-detection": ("audio",),
    "video-classification": ("video",),
    "text-to-video": ("video", "text"),
    "tabular-classification": ("tabular",),
    "tabular-regression": ("tabular",),
    "tabular-to-text": ("tabular", "text"),
    "table-question-answering": ("tabular", "text"),
    "time-series-forecasting": ("timeseries",),
    "text-classification": ("text",),
    "token-classification": ("text",),
    "question-answering": ("text",),
    "summarization": ("text",),
    "translation": ("text",),
    "text-generation": ("text",),
    "text2text-generation": ("text",),
    "fill-mask": ("text",),
    "sentence-similarity": ("text",),
    "zero-shot-classification": ("text",),
    "conversational": ("text",),
    "multiple-choice": ("text",),
    "feature-extraction": ("text",),
    "text-retrieval": ("text",),
}

# The 2023 snapshot's own domain labels.
DOMAIN_MODALITIES: dict[str, tuple[str, ...]] = {
    "nlp": ("text",),
    "computer_vision": ("image",),
    "audio": ("audio",),
    "tabular": ("tabular",),
}


def size_bucket_for_rows(rows: int | None) -> str | None:
    """The Hub bucket a row count falls in."""
    if rows is None or rows < 0:
        return None
    for name, upper in SIZE_BUCKETS:
        if rows < upper:
            return name
    return None
