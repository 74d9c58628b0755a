"""Russian twins of category hashtags: `birds` and `птицы`, `clothes` and `одежда`.

Every category tag of the built-in and benchmark collections is English, so a Russian query could
reach a document only through its caption. The project writes one Russian twin per category tag in
``core/assets/tag_twins.csv``; the collection builders add the twin next to the tag. A tag and its
twin name one thing: annotation should spend one slot on the pair (``TagTwins.slot``), and the
concept benchmark reads a twin back as its tag (``TagTwins.original``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core.reading.text import normalize_tag

TWINS_FILE = Path(__file__).resolve().parents[1] / "assets" / "tag_twins.csv"


@dataclass(frozen=True)
class TagTwins:
    """One-to-one pairs tag -> Russian twin (tags as the collection writes them)."""

    twins: Mapping[str, str]

    def __post_init__(self) -> None:
        originals: dict[str, str] = {}
        for tag, twin in self.twins.items():
            if not tag or not twin or tag == twin:
                raise ValueError(f"bad twin pair {tag!r} -> {twin!r}")
            if twin in originals or twin in self.twins:
                raise ValueError(f"twin {twin!r} is not unique")
            originals[twin] = tag
        object.__setattr__(self, "_originals", originals)
        tokens = {normalize_tag(twin): normalize_tag(tag) for twin, tag in originals.items()}
        object.__setattr__(self, "_token_originals", tokens)

    def with_twins(self, tags: Iterable[str]) -> list[str]:
        """``tags`` followed by the twins they lack; applying it twice changes nothing."""
        tags = list(dict.fromkeys(tags))
        present = set(tags)
        return tags + [
            self.twins[tag] for tag in tags if tag in self.twins and self.twins[tag] not in present
        ]

    def original(self, tag: str) -> str:
        """The tag a twin translates; any other tag unchanged."""
        return self._originals.get(tag, tag)  # type: ignore[attr-defined]

    def slot(self, token: str) -> str:
        """The annotation slot of an `@tag` token (a normalized tag): the same for a tag and its
        twin, namely the tag's token (`bodyparts` for both `body_parts` and `частитела`)."""
        return self._token_originals.get(token, token)  # type: ignore[attr-defined]


def read_tag_twins(path: Path) -> TagTwins:
    """A ``tag,twin`` CSV file (with that header) as ``TagTwins``."""
    with Path(path).open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and set(rows[0]) != {"tag", "twin"}:
        raise ValueError(f"{path}: expected the columns tag,twin; got {sorted(rows[0])}")
    return TagTwins({row["tag"].strip(): row["twin"].strip() for row in rows})


@lru_cache(maxsize=1)
def tag_twins() -> TagTwins:
    """The project's committed table."""
    return read_tag_twins(TWINS_FILE)
