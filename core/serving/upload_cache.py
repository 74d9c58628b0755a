"""The photos visitors upload: vectorized like the collection's, cached apart from it and bounded.

A public demo sees an endless stream of new photos; caching each one for ever would fill its
disk. ``UploadVectorizer`` reads the collection's cache (a visitor's photo may be one of the
collection's) but never writes to it; what it computes goes to its own directory, which holds at
most ``max_bytes``: storing a new entry pushes out the least recently used ones. Recency is the
file's modification time (touched on every hit), so a restarted process, or another one sharing
the directory, continues from what is on disk.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from core.reading.backbones import Backbone
from core.reading.vision import ImageVectorizer

UPLOAD_CACHE_BYTES = 64 * 2**20  # about 16,000 photos


class UploadVectorizer(ImageVectorizer):
    """An ``ImageVectorizer`` for visitors' photos with a size-capped, least-recently-used cache."""

    def __init__(
        self,
        backbone: Backbone,
        collection_cache_dir: Path,
        upload_cache_dir: Path,
        max_bytes: int = UPLOAD_CACHE_BYTES,
    ) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        super().__init__(backbone, upload_cache_dir)
        self.collection = ImageVectorizer(backbone, collection_cache_dir)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[Path, int] | None = None  # path -> size, least recent first

    def _load(self, digest: str) -> np.ndarray | None:
        row = self.collection._load(digest)
        if row is not None:
            return row
        row = super()._load(digest)
        if row is not None:
            self._used(self._path(digest))
        return row

    def _store(self, digest: str, row: np.ndarray) -> None:
        super()._store(digest, row)
        path = self._path(digest)
        with self._lock:
            entries = self._scanned()
            entries[path] = path.stat().st_size
            entries.move_to_end(path)
            total = sum(entries.values())
            while total > self.max_bytes and entries:
                oldest, size = entries.popitem(last=False)
                oldest.unlink(missing_ok=True)
                total -= size

    def _used(self, path: Path) -> None:
        """Mark a cache hit as the most recent use, on disk and in the index."""
        try:
            os.utime(path)
        except OSError:
            return  # removed meanwhile by another process: it is simply recomputed next time
        with self._lock:
            entries = self._scanned()
            if path in entries:
                entries.move_to_end(path)

    def _scanned(self) -> OrderedDict[Path, int]:
        """The index of the cache directory, read from disk once (oldest use first)."""
        if self._entries is None:
            root = self.cache_dir / "vision" / self.backbone.name
            found = []
            for path in root.glob("*/*.npy"):
                try:
                    stat = path.stat()
                except OSError:
                    continue
                found.append((stat.st_mtime_ns, path, stat.st_size))
            self._entries = OrderedDict((path, size) for _, path, size in sorted(found))
        return self._entries
