"""Near-identical documents as one hit: the same caption and alike photos.

A collection often holds several photos of one thing under one caption (six "A flower.
Цветок."); shown one by one they fill the page with cards a visitor cannot tell apart. A hit
takes in the later hits whose normalized caption (case, punctuation and spacing aside) is the
same and whose photo is alike to one it holds already: the same bytes, both without a photo, or
visual-word distributions (``@visual`` bags, normalized) within ``ALIKE_PHOTOS`` in L1.

``ALIKE_PHOTOS`` was measured on the built-in collection (689 documents, default build): the
visual words are 200 draws from the flattened class distribution, so even photos of one thing
lie 1.21-1.75 apart (62 pairs with one caption); 20,000 pairs with different captions lie at
1.49 (1st percentile), 1.59 (5th), 1.64 (10th) and 1.77 (median). A pair is alike when it is
nearer than 9 in 10 pairs of unrelated documents: with the caption equal, this keeps apart the
photos that are clearly unlike (a drawn lemon and a photo of one, 1.74).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from core.reading.collection import Document
from core.reading.vision import VISUAL
from core.serving.answers import Hit

ALIKE_PHOTOS = 1.64
WORDS = re.compile(r"\w+")


def caption_key(text: str) -> str:
    """A caption as two cards show it alike: its words, case-folded, in order."""
    return " ".join(WORDS.findall(text.casefold()))


def visual_distance(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """L1 between two bags of visual words as distributions (2, the most, if one is empty)."""
    total_a, total_b = sum(a.values()), sum(b.values())
    if total_a <= 0 or total_b <= 0:
        return 2.0
    return sum(abs(a.get(word, 0) / total_a - b.get(word, 0) / total_b) for word in {*a, *b})


def photos_alike(a: Document, b: Document) -> bool:
    """Whether two documents' photos would look the same on a card (see the module)."""
    if a.image_hash and a.image_hash == b.image_hash:
        return True
    if not a.image_hash and not b.image_hash:
        return True
    return visual_distance(a.tokens.get(VISUAL, {}), b.tokens.get(VISUAL, {})) <= ALIKE_PHOTOS


def collapse_similar(hits: Sequence[Hit], documents: Sequence[Document]) -> list[Hit]:
    """The hits in order, each holding in ``similar`` the ids of the later ones it stands for."""
    groups: dict[str, list[tuple[Hit, list[Document]]]] = {}
    kept = []
    for hit in hits:
        document = documents[hit.row]
        same_caption = groups.setdefault(caption_key(document.text), [])
        group = next(
            (group for group in same_caption if any(photos_alike(document, d) for d in group[1])),
            None,
        )
        if group is None:
            same_caption.append((hit, [document]))
            kept.append(hit)
        else:
            group[0].similar.append(hit.id)
            group[1].append(document)
    return kept
