"""The photos visitors upload, and what they become: kept apart from the collection and bounded.

A public demo sees an endless stream of new photos; keeping each one for ever would fill its
disk. Two stores, each capped in bytes (storing a new entry pushes out the least recently used
ones, see ``BoundedFiles``):

- ``UploadVectorizer``: the backbone's class probabilities of visitors' photos (about 4 KB each).
  It reads the collection's cache (a visitor's photo may be one of the collection's) but never
  writes to it.
- ``PhotoStore``: the photos themselves, by content hash. A photo search lives in the address as
  that hash, and a link opened in another browser (or after a restart) is answered from here;
  a photo pushed out since makes the link's photo part unknown, which the page says.

Recency is each file's modification time (touched on every hit), so a restarted process, or
another one sharing the directory, continues from what is on disk.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from core import durable
from core.reading.backbones import Backbone
from core.reading.images import content_hash
from core.reading.vision import ImageVectorizer

UPLOAD_CACHE_BYTES = 64 * 2**20  # about 16,000 photos' probabilities
# At most about 25 photos at the 10 MB upload limit, about 100 typical phone photos, many more
# small ones: a link to a photo search keeps working for the last visitors' photos.
PHOTO_STORE_BYTES = 256 * 2**20
PHOTO_HASH = re.compile(r"[0-9a-f]{64}")  # what ``content_hash`` gives: SHA-256 in hex


class BoundedFiles:
    """The files under ``root`` that match ``pattern``, at most ``max_bytes`` together: adding
    one removes the least recently used ones beyond the cap."""

    def __init__(self, root: Path, pattern: str, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.root, self.pattern, self.max_bytes = Path(root), pattern, max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[Path, int] | None = None  # path -> size, least recent first

    def added(self, path: Path) -> None:
        """Count a file just written as the most recent, then remove the oldest beyond the cap
        (the new one too, if it alone is larger)."""
        with self._lock:
            entries = self._scanned()
            entries[path] = path.stat().st_size
            entries.move_to_end(path)
            total = sum(entries.values())
            while total > self.max_bytes and entries:
                oldest, size = entries.popitem(last=False)
                oldest.unlink(missing_ok=True)
                total -= size

    def used(self, path: Path) -> None:
        """Mark a hit as the most recent use, on disk and in the index."""
        try:
            os.utime(path)
        except OSError:
            return  # removed meanwhile by another process: it is simply recomputed next time
        with self._lock:
            entries = self._scanned()
            if path in entries:
                entries.move_to_end(path)

    def _scanned(self) -> OrderedDict[Path, int]:
        """The index of the directory, read from disk once (oldest use first)."""
        if self._entries is None:
            found = []
            for path in self.root.glob(self.pattern):
                try:
                    stat = path.stat()
                except OSError:
                    continue
                found.append((stat.st_mtime_ns, path, stat.st_size))
            self._entries = OrderedDict((path, size) for _, path, size in sorted(found))
        return self._entries


class UploadVectorizer(ImageVectorizer):
    """An ``ImageVectorizer`` for visitors' photos with a size-capped, least-recently-used cache."""

    def __init__(
        self,
        backbone: Backbone,
        collection_cache_dir: Path,
        upload_cache_dir: Path,
        max_bytes: int = UPLOAD_CACHE_BYTES,
    ) -> None:
        super().__init__(backbone, upload_cache_dir)
        self.collection = ImageVectorizer(backbone, collection_cache_dir)
        self.files = BoundedFiles(self.cache_dir / "vision" / backbone.name, "*/*.npy", max_bytes)

    def _load(self, digest: str) -> np.ndarray | None:
        row = self.collection._load(digest)
        if row is not None:
            return row
        row = super()._load(digest)
        if row is not None:
            self.files.used(self._path(digest))
        return row

    def _store(self, digest: str, row: np.ndarray) -> None:
        super()._store(digest, row)
        self.files.added(self._path(digest))


class PhotoStore:
    """Visitors' photos by content hash, as uploaded (the hash, which seeds a photo's visual
    words, is of these bytes), at most ``max_bytes`` together."""

    def __init__(self, directory: Path, max_bytes: int = PHOTO_STORE_BYTES) -> None:
        self.directory = Path(directory)
        self.files = BoundedFiles(self.directory, "*/" + "?" * 64, max_bytes)  # not temporaries

    def keep(self, image: bytes) -> str:
        """Store ``image`` (once per content) and return its content hash."""
        digest = content_hash(image)
        path = self._path(digest)
        if path.is_file():
            self.files.used(path)
            return digest
        durable.write_bytes(path, image)
        self.files.added(path)
        return digest

    def photo(self, digest: str) -> Path | None:
        """The stored photo with this content hash; None for one never stored, pushed out since,
        or a string that is not a content hash (it never reaches the file system)."""
        if not PHOTO_HASH.fullmatch(digest):
            return None
        path = self._path(digest)
        if not path.is_file():
            return None
        self.files.used(path)
        return path

    def _path(self, digest: str) -> Path:
        return self.directory / digest[:2] / digest
