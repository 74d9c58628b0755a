"""One model version's directory: the only module that knows its layout.

```
models/<version>/
  version.json      the manifest: model parameters, ranking, number of documents, when written
  model/            phi per modality (``core.serving.model.FittedModel`` owns the files inside)
  index/            document thetas and the index over them (``core.serving.index.NeighborIndex``)
  display.json      how tokens are shown, per modality
  documents.jsonl   the documents the version was trained on, with their tokens, one a line
  documents.*.npy   the lines' byte offsets, ids and photo hashes sorted with their rows
                    (``core.serving.records.MappedRecords`` reads a hit's line alone)
  tokens/           the documents' token counts, memory-mapped by the ranking
                    (``core.serving.ranking.DocumentTokens``)
  training/         scratch files, only while the version is built: the ingested documents in
                    shards (``core.building.shards``) and BigARTM's batches
```

A version is written once, under a temporary name (see ``core.building.pipeline``), and only read
after. Its files are written plainly (numpy and BigARTM do not sync) and synced all at once by
``core.durable.publish_directory`` before the rename that makes the directory a version: one pass
of fsyncs at the end costs less than a temporary file, an fsync and a rename per file, and no
reader or database row sees the directory before that rename.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np

from core.reading.collection import Document, TokenCounts
from core.serving.bilingual import Lexicon, Translations
from core.serving.index import IndexParams, NeighborIndex
from core.serving.model import FittedModel, ModelParams, Phi
from core.serving.ranking import DocumentTokens, RankingParams
from core.serving.records import (
    DocumentRecords,
    InMemoryRecords,
    MappedRecords,
    document_from_line,
    write_record_index,
)


@dataclass
class PreparedCorpus:
    """Documents that survived import and filtering, each with its tokens per modality: in a
    list, or on disk (a build's shards, read again on every pass: ``core.building.shards``)."""

    documents: Collection[Document]
    display_forms: dict[str, dict[str, str]]
    junk_filtered: list[str]

    @property
    def tokens(self) -> TokenBags:
        """The documents' tokens in their order: what training and inference take."""
        return TokenBags(self.documents)


@dataclass(frozen=True)
class TokenBags(Sequence[TokenCounts]):
    """Each document's tokens, taken from ``documents`` as they are read; by row too when the
    documents are in a list."""

    documents: Collection[Document]

    def __len__(self) -> int:
        return len(self.documents)

    def __iter__(self) -> Iterator[TokenCounts]:
        return (document.tokens for document in self.documents)

    @overload
    def __getitem__(self, row: int) -> TokenCounts: ...

    @overload
    def __getitem__(self, row: slice) -> list[TokenCounts]: ...

    def __getitem__(self, row):
        if not isinstance(self.documents, Sequence):
            raise TypeError("documents stored on disk are read in order, not by row")
        if isinstance(row, slice):
            return [document.tokens for document in self.documents[row]]
        return self.documents[row].tokens


@dataclass(frozen=True)
class VersionFiles:
    """Reads and writes the files of the version stored in ``directory``."""

    directory: Path

    @property
    def training_dir(self) -> Path:
        """Scratch space for training (BigARTM's batches); ``remove_training_files`` removes it."""
        return self.directory / "training"

    @property
    def corpus_dir(self) -> Path:
        """Where a build's ingest writes the documents' shards (scratch, under training)."""
        return self.training_dir / "corpus"

    @property
    def _index_dir(self) -> Path:
        return self.directory / "index"

    @property
    def _tokens_dir(self) -> Path:
        return self.directory / "tokens"

    def write(
        self,
        params: ModelParams,
        model: FittedModel,
        corpus: PreparedCorpus,
        word_of_tag: Callable[[str], str | None],
        ranking: RankingParams | None = None,
    ) -> None:
        """Everything serving and retraining need besides the index; the manifest comes last.
        ``ranking`` (default: ``RankingParams()``, the best measured) is how search orders hits;
        ``word_of_tag``: the word a hashtag says (``DocumentTokens.write``). The documents are
        read in passes, never all held (they may be a build's shards)."""
        model.save(self.directory / "model")
        self._write_json("display.json", corpus.display_forms)
        write_record_index(self.directory, corpus.documents)
        DocumentTokens.write(self._tokens_dir, model.phi, corpus.tokens, word_of_tag)
        manifest = {
            "params": params.to_dict(),
            "ranking": (ranking or RankingParams()).to_dict(),
            "num_documents": len(corpus.documents),
            "written_at": time.time(),
        }
        (self.directory / "version.json").write_text(json.dumps(manifest, indent=2))

    def write_index(self, index: NeighborIndex) -> None:
        index.save(self._index_dir)

    def write_index_blocks(
        self,
        blocks: Iterable[np.ndarray],
        shape: tuple[int, int],
        params: IndexParams | None = None,
    ) -> None:
        """The index of thetas too many to hold, given a block of rows at a time."""
        NeighborIndex.write(self._index_dir, blocks, shape, params)

    def copy_index_from(self, other: VersionFiles) -> None:
        """The same documents with the same thetas: the other version's index as it is."""
        shutil.copytree(other._index_dir, self._index_dir)

    def remove_training_files(self) -> None:
        shutil.rmtree(self.training_dir, ignore_errors=True)

    def is_complete(self) -> bool:
        """Whether the manifest, written last, is there."""
        return (self.directory / "version.json").is_file()

    def read_params(self) -> ModelParams:
        manifest = json.loads((self.directory / "version.json").read_text())
        return ModelParams.from_dict(manifest["params"])

    def read_ranking(self) -> RankingParams:
        """How the version's searches order documents (the article's L1 for older versions)."""
        manifest = json.loads((self.directory / "version.json").read_text())
        return RankingParams.from_dict(manifest.get("ranking"))

    def read_model(self) -> FittedModel:
        return FittedModel.load(self.directory / "model")

    def read_index(self) -> NeighborIndex:
        return NeighborIndex.load(self._index_dir)

    def read_topic_shares(self) -> np.ndarray:
        """Topics x documents: each topic's share in every document, from the index's
        topic-major copy (memory-mapped) or, for an index without one, from its thetas."""
        by_topic = self._index_dir / "thetas_by_topic.npy"
        if by_topic.is_file():
            return np.load(by_topic, mmap_mode="r")
        return np.ascontiguousarray(np.load(self._index_dir / "thetas.npy", mmap_mode="r").T)

    def write_translations(self, translations: Translations) -> None:
        """The word pairs learned from the version's documents (``Translations.learn``), so a
        replica reads them instead of learning them again from every record."""
        self._write_json("translations.json", translations.to_json())

    def read_translations(self, lexicon: Lexicon | None) -> Translations | None:
        """The stored pairs with ``lexicon``, or None for a version written before they were
        stored."""
        path = self.directory / "translations.json"
        if not path.is_file():
            return None
        return Translations.from_json(json.loads(path.read_text()), lexicon)

    def read_display_forms(self) -> dict[str, dict[str, str]]:
        return json.loads((self.directory / "display.json").read_text())

    def read_documents(self) -> list[Document]:
        """The version's documents, with their tokens, in index order (phi was trained on all
        of them or on a sample: ``ModelParams.training_sample``)."""
        return [document_from_line(line) for line in self.read_document_lines()]

    def read_records(self) -> DocumentRecords:
        """The documents by row, memory-mapped; a version written before the mapped files
        existed is parsed into memory (versions are immutable: it is not converted)."""
        if MappedRecords.exists(self.directory):
            return MappedRecords(self.directory)
        return InMemoryRecords(self.read_documents())

    def read_document_tokens(self, phi: Mapping[str, Phi]) -> DocumentTokens | None:
        """The documents' token counts memory-mapped, or None for a version written before
        they were stored (its counts are built from its documents)."""
        if not (self._tokens_dir / "tokens.json").is_file():
            return None
        return DocumentTokens.load(self._tokens_dir, phi)

    def read_corpus(self) -> PreparedCorpus:
        """The version's documents (its records, each read when it is needed) and display
        forms: what a version derived from this one is written from."""
        return PreparedCorpus(
            documents=self.read_records(),
            display_forms=self.read_display_forms(),
            junk_filtered=[],
        )

    def _write_json(self, name: str, data: object) -> None:
        (self.directory / name).write_text(json.dumps(data, ensure_ascii=False))

    def read_document_lines(self) -> list[str]:
        """The document records unparsed, one JSON object a line (what parsing them costs is
        measured by ``core.measurement.scale``). Split at newlines only: a caption may hold a
        line separator (U+2028) that JSON leaves as it is and ``splitlines`` would cut at."""
        return (self.directory / "documents.jsonl").read_text(encoding="utf-8").split("\n")[:-1]

    def bytes_on_disk(self) -> dict[str, int]:
        """Bytes of the model's files, the index's, the document records, the maps into them
        (row by id, by photo) and the token counts."""

        def size(path: Path) -> int:
            files = path.rglob("*") if path.is_dir() else [path]
            return sum(p.stat().st_size for p in files if p.is_file())

        return {
            "model": size(self.directory / "model"),
            "index": size(self._index_dir),
            "documents": size(self.directory / "documents.jsonl"),
            "document_maps": sum(size(path) for path in self.directory.glob("documents.*.npy")),
            "tokens": size(self.directory / "tokens"),
        }
