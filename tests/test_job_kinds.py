"""Every job kind keeps the registry's contract: its parameters go through the jobs table's JSON
and back unchanged, bad parameters are refused with a message naming what is wrong, a job of it
is described in every interface language, and the worker has a function to run it."""

from __future__ import annotations

import inspect
from typing import get_type_hints

import pytest

from core.building.job_runners import RUNNERS
from core.storage.admin_tables import Job
from core.storage.job_kinds import JOB_KINDS, DerivedVersionParams, JobParams, params_from_json
from core.storage.jobs import describe
from interface.i18n import LANGUAGES

# One job of each kind as the jobs table stores it (the JSON written before the registry), and
# parameters it must refuse with the words the refusal names.
STORED = {
    "build": {"collection": "/data/photos"},
    "reindex": {"parent": "v0001", "weights": {"@text": 1.0, "@visual": 0.5}},
    "add_modality": {
        "parent": "v0001",
        "modality": "@category",
        "tokens": {"doc1": {"cats": 2, "pets": 1}},
        "weight": 1.0,
        "retrain": False,
    },
    "retrain": {"parent": "v0001", "changes": {"num_topics": 50}},
    "junk_filter": {},
    "add_documents": {"folder": "/data/uploads/1", "added_by": "ada"},
    "read_additions": {"version": "v0002"},
}
REFUSED = {
    "build": ({"collection": 7}, "collection"),
    "reindex": ({"parent": "v0001", "weights": {"@text": "high"}}, "weights"),
    "add_modality": ({**STORED["add_modality"], "tokens": {}}, "no document has tokens"),
    "retrain": ({"changes": {}}, "parent"),
    "junk_filter": ({"collection": "/data"}, "collection"),
    "add_documents": ({"folder": None, "added_by": "ada"}, "folder"),
    "read_additions": ({"version": 2}, "version"),
}

kinds = pytest.mark.parametrize("kind", sorted(JOB_KINDS))


def test_every_kind_is_covered_here():
    assert set(STORED) == set(REFUSED) == set(JOB_KINDS)


@kinds
def test_a_kind_is_registered_under_its_own_name(kind):
    assert issubclass(JOB_KINDS[kind], JobParams) and JOB_KINDS[kind].kind == kind


@kinds
def test_parameters_go_through_the_jobs_tables_json_unchanged(kind):
    params = params_from_json(kind, STORED[kind])
    written = params.to_json()
    assert {name: written[name] for name in STORED[kind]} == STORED[kind]
    assert JOB_KINDS[kind].from_json(written) == params


@kinds
def test_bad_parameters_are_refused_with_what_is_wrong(kind):
    bad, named = REFUSED[kind]
    with pytest.raises(ValueError, match=named):
        params_from_json(kind, bad)
    with pytest.raises(ValueError, match="unexpected"):
        params_from_json(kind, {**STORED[kind], "unexpected": 1})
    with pytest.raises(ValueError, match="JSON object"):
        params_from_json(kind, ["not", "an", "object"])


@kinds
def test_a_job_is_described_in_every_language(kind):
    job = Job(kind=kind, params=STORED[kind])
    texts = {language: describe(job, language) for language in LANGUAGES}
    assert all(text and text != kind for text in texts.values()), texts
    assert len(set(texts.values())) == len(LANGUAGES), texts  # each language its own words


@kinds
def test_the_worker_has_a_runner_taking_the_kinds_parameters(kind):
    runner = RUNNERS[kind]
    first = next(iter(inspect.signature(runner).parameters))
    assert get_type_hints(runner)[first] is JOB_KINDS[kind]


def test_the_worker_runs_no_kind_the_registry_lacks():
    assert set(RUNNERS) == set(JOB_KINDS)


def test_a_stored_job_no_kind_reads_is_named_by_its_kind():
    assert describe(Job(kind="reindex", params={})) == "reindex"
    with pytest.raises(ValueError, match="a job kind is one of"):
        params_from_json("compress", {})


def test_a_new_version_from_a_retrain_reindex_or_new_modality_waits_unless_asked():
    derived = sorted(
        k for k, params in JOB_KINDS.items() if issubclass(params, DerivedVersionParams)
    )
    assert derived == ["add_modality", "reindex", "retrain"]
    for kind in derived:
        stored_before_the_flag = params_from_json(kind, STORED[kind])
        assert stored_before_the_flag.activate is False
        asked = params_from_json(kind, {**STORED[kind], "activate": True})
        assert asked.activate and JOB_KINDS[kind].from_json(asked.to_json()) == asked
        assert asked.describe("en").endswith(", then activate it")
        assert asked.describe("ru").endswith(", затем активация")


def test_an_added_modality_is_described_by_its_name_and_its_id():
    named = {**STORED["add_modality"], "name_en": "Category", "name_ru": "Категория"}

    assert describe(Job(kind="add_modality", params=named), "en").startswith(
        "add Category (@category) "
    )
    assert describe(Job(kind="add_modality", params=named), "ru").startswith(
        "добавление Категория (@category) "
    )
    stored_before_names = Job(kind="add_modality", params=STORED["add_modality"])
    assert describe(stored_before_names, "en").startswith("add category (@category) ")


@pytest.mark.parametrize(
    ("photos", "expected"),
    [
        (1, {"en": "add 1 photo uploaded by ada", "ru": "добавление 1 фото от ada"}),
        (3, {"en": "add 3 photos uploaded by ada", "ru": "добавление 3 фото от ada"}),
    ],
)
def test_an_upload_is_named_by_its_photos_and_who_uploaded_them_not_by_its_folder(photos, expected):
    job = Job(kind="add_documents", params={**STORED["add_documents"], "photos": photos})
    assert {language: describe(job, language) for language in LANGUAGES} == expected
