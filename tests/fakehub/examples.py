"""Real datasets with the exact values of the saved samples (shared/hub/samples, see PROVENANCE.md).

`FakeHub(examples=True)` or `hub.add_examples()` adds them, so the fake reproduces:
- GET /api/datasets/hendrycks/competition_math: the verbatim full payload (disabled: true);
- the list items of rajpurkar/squad (with downloadsAllTime), rajpurkar/squad_v2 and the legacy
  un-namespaced acronym_identification (author null), with their 2022-10 canonical sizes;
- GET /size for ylecun/mnist, nyu-mll/glue (config ax), ibm/duorc and allenai/atomic (failed).
Values are public facts copied from the samples; fields the samples lack are derived as usual.
"""

from typing import Any

EXAMPLES: list[tuple[str, dict[str, Any]]] = [
    (
        "hendrycks/competition_math",
        {
            "_id": "621ffdd236468d709f181dd1",
            "author": "hendrycks",
            "sha": "71b758ecc688b2822d07ffa7f8393299f1dc7cac",
            "lastModified": "2023-06-08T06:40:09.000Z",
            "private": False,
            "gated": False,
            "disabled": True,
            "tags": [
                "annotations_creators:expert-generated",
                "language_creators:expert-generated",
                "multilinguality:monolingual",
                "source_datasets:original",
                "language:en",
                "license:mit",
                "size_categories:10K<n<100K",
                "arxiv:2103.03874",
                "region:us",
                "explanation-generation",
            ],
            "citation": "@article{hendrycksmath2021,\n"
            "  title={Measuring Mathematical Problem Solving With the MATH Dataset},\n"
            "  author={Dan Hendrycks\n"
            "    and Collin Burns\n"
            "    and Saurav Kadavath\n"
            "    and Akul Arora\n"
            "    and Steven Basart\n"
            "    and Eric Tang\n"
            "    and Dawn Song\n"
            "    and Jacob Steinhardt},\n"
            "  journal={arXiv preprint arXiv:2103.03874},\n"
            "  year={2021}\n"
            "}",
            "description": "The Mathematics Aptitude Test of Heuristics (MATH) dataset consists of "
            "problems\n"
            "from mathematics competitions, including the AMC 10, AMC 12, AIME, and more.\n"
            "Each problem in MATH has a full step-by-step solution, which can be used to "
            "teach\n"
            "models to generate answer derivations and explanations.",
            "downloads": 0,
            "likes": 140,
            "cardData": {
                "annotations_creators": ["expert-generated"],
                "language_creators": ["expert-generated"],
                "language": ["en"],
                "license": ["mit"],
                "multilinguality": ["monolingual"],
                "pretty_name": "Mathematics Aptitude Test of Heuristics (MATH)",
                "size_categories": ["10K<n<100K"],
                "source_datasets": ["original"],
                "task_categories": ["text2text-generation"],
                "task_ids": [],
                "tags": ["explanation-generation"],
                "dataset_info": {
                    "features": [
                        {"name": "problem", "dtype": "string"},
                        {"name": "level", "dtype": "string"},
                        {"name": "type", "dtype": "string"},
                        {"name": "solution", "dtype": "string"},
                    ],
                    "splits": [
                        {"name": "train", "num_bytes": 5984788, "num_examples": 7500},
                        {"name": "test", "num_bytes": 3732575, "num_examples": 5000},
                    ],
                    "download_size": 20327424,
                    "dataset_size": 9717363,
                },
            },
            "siblings": [
                {"rfilename": ".gitattributes"},
                {"rfilename": "README.md"},
                {"rfilename": "competition_math.py"},
                {"rfilename": "data/MATH.zip"},
            ],
            "createdAt": "2022-03-02T23:29:22.000Z",
            "usedStorage": 107709951,
        },
    ),
    (
        "rajpurkar/squad",
        {
            "_id": "621ffdd236468d709f181f95",
            "author": "rajpurkar",
            "disabled": False,
            "gated": False,
            "lastModified": "2024-03-04T13:54:37.000Z",
            "likes": 984,
            "private": False,
            "sha": "7b6d24c440a36b6815f21b70d25016731768db1f",
            "description": "Dataset Card for SQuAD",
            "downloads": 254152,
            "downloadsAllTime": 7965198,
            "tags": ["task_categories:question-answering", "language:en"],
            "createdAt": "2022-03-02T23:29:22.000Z",
            "sizes": [
                {
                    "config": "plain_text",
                    "download_size": 35142551,
                    "dataset_size": 89789763,
                    "splits": [
                        {"name": "train", "num_bytes": 79317110, "num_examples": 87599},
                        {"name": "validation", "num_bytes": 10472653, "num_examples": 10570},
                    ],
                }
            ],
        },
    ),
    (
        "rajpurkar/squad_v2",
        {
            "_id": "621ffdd236468d709f181f9c",
            "author": "rajpurkar",
            "disabled": False,
            "gated": False,
            "lastModified": "2024-03-04T13:55:27.000Z",
            "likes": 263,
            "private": False,
            "downloads": 83337,
            "description": "Dataset Card for SQuAD 2.0. Stanford Question Answering Dataset.",
            "tags": ["task_categories:question-answering", "language:en", "license:cc-by-sa-4.0"],
            "sizes": [
                {
                    "config": "squad_v2",
                    "download_size": 46494161,
                    "dataset_size": 128360252,
                    "splits": [
                        {"name": "train", "num_bytes": 116699950, "num_examples": 130319},
                        {"name": "validation", "num_bytes": 11660302, "num_examples": 11873},
                    ],
                }
            ],
        },
    ),
    (
        "acronym_identification",
        {
            "_id": "621ffdd236468d709f181d58",
            "author": None,
            "citation": "@inproceedings{veyseh-et-al-2020-what,\n"
            "   title={{What Does This Acronym Mean? Introducing a New Dataset for Acronym "
            "Identification and Disambiguation}},\n"
            "   author={Amir Pouran Ben Veyseh and Franck Dernoncourt and Quan Hung Tran and "
            "Thien Huu Nguyen},\n"
            "   year={2020},\n"
            "   booktitle={Proceedings of COLING},\n"
            "   link={https://arxiv.org/pdf/2010.14678v1.pdf}\n"
            "}",
            "description": "Acronym identification training and development sets for the acronym "
            "identification task at SDU@AAAI-21.",
            "disabled": False,
            "downloads": 7576,
            "gated": False,
            "lastModified": "2023-01-25T14:18:28.000Z",
            "likes": 14,
            "paperswithcode_id": "acronym-identification",
            "private": False,
            "sha": "c3c245a18bbd57b1682b099e14460eebf154cbdf",
            "tags": [
                "task_categories:token-classification",
                "annotations_creators:expert-generated",
                "language_creators:found",
                "multilinguality:monolingual",
                "size_categories:10K<n<100K",
                "source_datasets:original",
                "language:en",
                "license:mit",
                "acronym-identification",
                "arxiv:2010.14678",
            ],
            "sizes": [
                {
                    "config": "default",
                    "download_size": 8556464,
                    "dataset_size": 9733236,
                    "splits": [
                        {"name": "train", "num_bytes": 7792803, "num_examples": 14006},
                        {"name": "validation", "num_bytes": 952705, "num_examples": 1717},
                        {"name": "test", "num_bytes": 987728, "num_examples": 1750},
                    ],
                }
            ],
        },
    ),
    (
        "ylecun/mnist",
        {
            "task_categories": ["image-classification"],
            "language": ["en"],
            "license": ["mit"],
            "size_categories": ["10K<n<100K"],
            "pretty_name": "MNIST",
            "summary": (
                "The MNIST dataset consists of 70,000 28x28 black-and-white images "
                "of handwritten digits."
            ),
            "sizes": [
                {
                    "config": "mnist",
                    "num_bytes_original_files": 11594722,
                    "download_size": 11594722,
                    "dataset_size": 20387582,
                    "features": [
                        {"name": "image", "dtype": "image"},
                        {
                            "name": "label",
                            "dtype": {
                                "class_label": {
                                    "names": {
                                        "0": "0",
                                        "1": "1",
                                        "2": "2",
                                        "3": "3",
                                        "4": "4",
                                        "5": "5",
                                        "6": "6",
                                        "7": "7",
                                        "8": "8",
                                        "9": "9",
                                    }
                                }
                            },
                        },
                    ],
                    "splits": [
                        {
                            "name": "train",
                            "num_bytes": 17471100,
                            "num_examples": 60000,
                            "num_bytes_parquet_files": 15561616,
                        },
                        {
                            "name": "test",
                            "num_bytes": 2916482,
                            "num_examples": 10000,
                            "num_bytes_parquet_files": 2595890,
                        },
                    ],
                }
            ],
        },
    ),
    (
        "nyu-mll/glue",
        {
            "task_categories": ["text-classification"],
            "language": ["en"],
            "license": ["other"],
            "pretty_name": "GLUE (General Language Understanding Evaluation benchmark)",
            "sizes": [
                {
                    "config": "ax",
                    "num_bytes_original_files": 222257,
                    "download_size": 80767,
                    "num_columns": 4,
                    "features": [
                        {"name": "premise", "dtype": "string"},
                        {"name": "hypothesis", "dtype": "string"},
                        {
                            "name": "label",
                            "dtype": {
                                "class_label": {
                                    "names": {
                                        "0": "entailment",
                                        "1": "neutral",
                                        "2": "contradiction",
                                    }
                                }
                            },
                        },
                        {"name": "idx", "dtype": "int32"},
                    ],
                    "splits": [
                        {
                            "name": "test",
                            "num_bytes": 237694,
                            "num_examples": 1104,
                            "num_bytes_parquet_files": 80767,
                        }
                    ],
                }
            ],
        },
    ),
    (
        "ibm/duorc",
        {
            "task_categories": ["question-answering", "text2text-generation"],
            "language": ["en"],
            "license": ["mit"],
            "pretty_name": "DuoRC",
            "sizes": [
                {
                    "config": "ParaphraseRC",
                    "num_bytes_original_files": 37709127,
                    "features": [
                        {"name": "plot_id", "dtype": "string"},
                        {"name": "plot", "dtype": "string"},
                        {"name": "title", "dtype": "string"},
                        {"name": "question_id", "dtype": "string"},
                        {"name": "question", "dtype": "string"},
                        {"name": "answers", "sequence": "string"},
                        {"name": "no_answer", "dtype": "bool"},
                    ],
                    "splits": [
                        {
                            "name": "train",
                            "num_bytes": 494389683,
                            "num_examples": 69524,
                            "num_bytes_parquet_files": 26005668,
                        },
                        {
                            "name": "validation",
                            "num_bytes": 106733319,
                            "num_examples": 15591,
                            "num_bytes_parquet_files": 5566868,
                        },
                        {
                            "name": "test",
                            "num_bytes": 103271281,
                            "num_examples": 15857,
                            "num_bytes_parquet_files": 6136591,
                        },
                    ],
                },
                {
                    "config": "SelfRC",
                    "num_bytes_original_files": 21001846,
                    "features": [
                        {"name": "plot_id", "dtype": "string"},
                        {"name": "plot", "dtype": "string"},
                        {"name": "title", "dtype": "string"},
                        {"name": "question_id", "dtype": "string"},
                        {"name": "question", "dtype": "string"},
                        {"name": "answers", "sequence": "string"},
                        {"name": "no_answer", "dtype": "bool"},
                    ],
                    "splits": [
                        {
                            "name": "train",
                            "num_bytes": 248966361,
                            "num_examples": 60721,
                            "num_bytes_parquet_files": 14851720,
                        },
                        {
                            "name": "validation",
                            "num_bytes": 56359392,
                            "num_examples": 12961,
                            "num_bytes_parquet_files": 3114390,
                        },
                        {
                            "name": "test",
                            "num_bytes": 51022318,
                            "num_examples": 12559,
                            "num_bytes_parquet_files": 3035736,
                        },
                    ],
                },
            ],
        },
    ),
    (
        "allenai/atomic",
        {
            "task_categories": ["text2text-generation"],
            "language": ["en"],
            "license": ["cc-by-4.0"],
            "pretty_name": "ATOMIC",
            "viewer": "failed",
            "sizes": [{"config": "atomic", "splits": []}],
        },
    ),
]
