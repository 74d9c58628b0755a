"""Job kinds: what each kind of job asks for, and how a job of it is named on the admin pages.

A job is queued as a kind and JSON parameters (``core.storage.jobs``). Each kind is one frozen
dataclass of its parameters: it checks them when made (the fields' types, then any rules of the
kind's own ``__post_init__``), writes and reads them as the jobs table's JSON, and describes the
job in every interface language. The web process queues and lists jobs with these classes alone;
how a kind runs is in ``core.building.job_runners``, which the worker finds by the same ``kind``.

Adding a job kind takes two steps: its params class here, listed in ``JOB_KINDS`` at the bottom
of this module, and its run function in ``core.building.job_runners``, listed in ``RUNNERS``
there. ``tests/test_job_kinds.py`` holds every kind to this contract.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from types import NoneType, UnionType
from typing import Any, ClassVar, Self, get_args, get_origin, get_type_hints

from core.storage.modality_names import DisplayName, checked_display_name, default_display_name


@dataclass(frozen=True)
class JobParams(ABC):
    """The parameters of one kind of job; subclasses are frozen dataclasses naming ``kind``."""

    kind: ClassVar[str]

    def __post_init__(self) -> None:
        """Check every field's type and that all is JSON; a kind with rules of its own extends
        this."""
        hints = get_type_hints(type(self))
        for field in fields(self):
            value, hint = getattr(self, field.name), hints[field.name]
            if not _fits(value, hint):
                raise ValueError(
                    f"the {self.kind} job's {field.name} must be {_spelled(hint)}, not {value!r}"
                )
        try:
            self._json_text()
        except TypeError as error:
            raise ValueError(f"the {self.kind} job's parameters must be JSON: {error}") from None

    @abstractmethod
    def describe(self, language: str = "en") -> str:
        """What the job does, in words of ``language`` ("en" or "ru"), for job lists and logs."""

    def to_json(self) -> dict[str, Any]:
        """The parameters as the jobs table stores them (what a worker elsewhere reads)."""
        return json.loads(self._json_text())

    def _json_text(self) -> str:
        return json.dumps({field.name: getattr(self, field.name) for field in fields(self)})

    @classmethod
    def from_json(cls, data: Any) -> Self:
        """The parameters of a stored job; ``ValueError`` says what is wrong with them."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a {cls.kind} job's parameters are a JSON object, not {data!r}")
        names = [field.name for field in fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"a {cls.kind} job has no parameter {unknown}; it has {names}")
        required = [
            field.name
            for field in fields(cls)
            if field.default is MISSING and field.default_factory is MISSING
        ]
        missing = [name for name in required if name not in data]
        if missing:
            raise ValueError(f"a {cls.kind} job needs the parameter {missing}")
        return cls(**data)


def _fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` is of the JSON-like type ``hint`` (an int counts as a float)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is UnionType:
        return any(_fits(value, arg) for arg in args)
    if hint is Any:
        return True
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if origin is dict:
        return isinstance(value, Mapping) and all(
            _fits(key, args[0]) and _fits(item, args[1]) for key, item in value.items()
        )
    return isinstance(value, hint)


def _spelled(hint: Any) -> str:
    """A type as an error message names it: ``dict[str, float]``, ``str | None``."""
    if get_origin(hint) is not None:
        return str(hint).replace("typing.", "")
    return "None" if hint is NoneType else hint.__name__


# --------------------------------------------------------------------------------------------------
# The kinds
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildParams(JobParams):
    """A new version from a collection folder the worker can read (None: its configured one),
    with these model parameters (``ModelParams.to_dict()``; None: the defaults)."""

    kind: ClassVar[str] = "build"
    collection: str | None = None
    model: dict[str, Any] | None = None

    def describe(self, language: str = "en") -> str:
        if self.collection is None:
            return {
                "en": "build from the configured collection",
                "ru": "сборка из коллекции по умолчанию",
            }[language]
        return {"en": "build from {}", "ru": "сборка из {}"}[language].format(self.collection)


@dataclass(frozen=True)
class DerivedVersionParams(JobParams):
    """A job making a new version from ``parent``. The new version waits for an admin's
    activation unless ``activate`` (a job stored before the flag existed reads as waiting)."""

    parent: str
    activate: bool = dataclasses.field(default=False, kw_only=True)

    def _then(self, language: str) -> str:
        """What the job's description adds when the new version goes live by itself."""
        if not self.activate:
            return ""
        return {"en": ", then activate it", "ru": ", затем активация"}[language]


@dataclass(frozen=True)
class ReindexParams(DerivedVersionParams):
    """A new version of ``parent`` whose documents' thetas are inferred with ``weights``."""

    kind: ClassVar[str] = "reindex"
    weights: dict[str, float]

    def describe(self, language: str = "en") -> str:
        return {"en": "re-index {}", "ru": "переиндексация {}"}[language].format(
            self.parent
        ) + self._then(language)


@dataclass(frozen=True)
class AddModalityParams(DerivedVersionParams):
    """A new version of ``parent`` with ``modality`` (``tokens``: document id -> token ->
    count) at ``weight``: only its phi trained, or every matrix retrained (``retrain``).
    ``name_en`` and ``name_ru`` are what people call it (a job stored before names existed
    has none: its modality gets ``default_display_name``)."""

    kind: ClassVar[str] = "add_modality"
    modality: str
    tokens: dict[str, dict[str, float]]
    weight: float
    retrain: bool
    name_en: str = dataclasses.field(default="", kw_only=True)
    name_ru: str = dataclasses.field(default="", kw_only=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.tokens:
            raise ValueError(f"no document has tokens of {self.modality}")

    @property
    def display_name(self) -> DisplayName:
        """What people call the new modality."""
        if not self.name_en and not self.name_ru:
            return default_display_name(self.modality)
        return checked_display_name(self.name_en, self.name_ru)

    def describe(self, language: str = "en") -> str:
        template = {
            "en": ("add {} (frozen phi)", "add {} (retrain)"),
            "ru": ("добавление {} (прочие phi заморожены)", "добавление {} (переобучение)"),
        }[language][self.retrain]
        named = f"{self.display_name.in_language(language)} ({self.modality})"
        return template.format(named) + self._then(language)


@dataclass(frozen=True)
class RetrainParams(DerivedVersionParams):
    """A new version trained anew on ``parent``'s documents, its model parameters updated by
    ``changes`` (e.g. ``{"num_topics": 50}``)."""

    kind: ClassVar[str] = "retrain"
    changes: dict[str, Any] | None = None

    def describe(self, language: str = "en") -> str:
        return {"en": "retrain {}", "ru": "переобучение {}"}[language].format(
            self.parent
        ) + self._then(language)


@dataclass(frozen=True)
class JunkFilterParams(JobParams):
    """Training the junk filter on the active version's labeled documents."""

    kind: ClassVar[str] = "junk_filter"

    def describe(self, language: str = "en") -> str:
        return {"en": "train the junk filter", "ru": "обучение фильтра мусора"}[language]


@dataclass(frozen=True)
class AddDocumentsParams(JobParams):
    """Adding the documents of a collection ``folder`` the worker can read (photos with a
    documents file) to the active version, on behalf of ``added_by``. ``photos`` (how many were
    uploaded) names the job by what the person did rather than by the folder the upload was
    kept in; a job stored without it is named by its folder."""

    kind: ClassVar[str] = "add_documents"
    folder: str
    added_by: str
    photos: int | None = None

    def describe(self, language: str = "en") -> str:
        if self.photos is None:
            return {"en": "add the photos of {}", "ru": "добавление фотографий из {}"}[
                language
            ].format(self.folder)
        if language == "ru":  # "фото" does not change with the number
            return f"добавление {self.photos} фото от {self.added_by}"
        noun = "photo" if self.photos == 1 else "photos"
        return f"add {self.photos} {noun} uploaded by {self.added_by}"


@dataclass(frozen=True)
class ReadAdditionsParams(JobParams):
    """Reading the documents added to the collection that ``version`` lacks into it, with its
    phi (queued when a version is activated from the admin panel and lacks some)."""

    kind: ClassVar[str] = "read_additions"
    version: str

    def describe(self, language: str = "en") -> str:
        return {
            "en": "read the added photos into {}",
            "ru": "добавленные фотографии в версию {}",
        }[language].format(self.version)


JOB_KINDS: dict[str, type[JobParams]] = {
    params.kind: params
    for params in (
        BuildParams,
        ReindexParams,
        AddModalityParams,
        RetrainParams,
        JunkFilterParams,
        AddDocumentsParams,
        ReadAdditionsParams,
    )
}


def params_from_json(kind: str, data: Any) -> JobParams:
    """The parameters of a stored job of ``kind``; ``ValueError`` for an unknown kind or bad
    parameters."""
    if kind not in JOB_KINDS:
        raise ValueError(f"a job kind is one of {tuple(JOB_KINDS)}, not {kind!r}")
    return JOB_KINDS[kind].from_json(data)
