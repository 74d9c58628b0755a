"""What a search box's words mean beyond words: ``-word``, ``NOT word`` and ``НЕ слово``.

People type the exclusion syntax that other search engines taught them; read as plain words, an
excluded word pulls its documents to the top. The rule, token by token (tokens are separated by
whitespace):

* ``-word`` excludes ``word`` (``-#tag`` a hashtag); a dash inside a word (``wi-fi``,
  ``северо-запад``) is part of the word, and a dash without letters after it (``-``, ``-5``)
  is left as typed;
* ``NOT`` or ``НЕ`` in capitals as a token of its own excludes the token after it; at the end
  of the query it is dropped. In lower case they are words of a sentence: "знак, который в
  России не применяется" asks for the documents that say it, and excluding 'применяется' took
  them away.

Everything else is the included text, in its order. Pure functions: no model is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

EXCLUDING_KEYWORDS = frozenset({"NOT", "НЕ"})
DASH = "-"


@dataclass(frozen=True)
class QuerySyntax:
    """A query's included text and the words it excludes, as typed."""

    text: str
    excluded: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if any(not word.strip() for word in self.excluded):
            raise ValueError(f"an excluded word cannot be blank: {self.excluded!r}")


def parse_query(text: str) -> QuerySyntax:
    """``text`` split into the included words and the excluded ones (see the module)."""
    included: list[str] = []
    excluded: list[str] = []
    tokens = text.split()
    position = 0
    while position < len(tokens):
        token = tokens[position]
        position += 1
        if token in EXCLUDING_KEYWORDS:
            if position < len(tokens):
                excluded.append(_without_dash(tokens[position]))
                position += 1
        elif token.startswith(DASH) and any(c.isalpha() for c in token):
            excluded.append(_without_dash(token))
        else:
            included.append(token)
    return QuerySyntax(" ".join(included), tuple(word for word in excluded if word))


def _without_dash(token: str) -> str:
    """``-word`` as ``word`` (``NOT -word`` excludes ``word`` too)."""
    return token.lstrip(DASH)
