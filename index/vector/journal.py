"""A write-ahead journal for vector writes made after the caller was answered.

A process appends each write (one JSON line) to the current *segment* of its own journal
directory and flushes it to the operating system before the write is acknowledged. The
writer rotates to a new segment each time it takes a batch (and a segment is rotated once it
holds ``segment_records``), and a segment is discarded once every record in it is known to
be in the vector index (:class:`WriteJournal` counts them). So the segments on disk hold
every write not yet written, plus, at most, written ones that share a segment with those; once
the queue is drained (what maintenance waits for) nothing is left, and a replay never brings
back an entry deleted after that.

Each process owns one directory under the journal root, named by 32 hex digits, and holds an
exclusive ``flock`` on its ``lock`` file while it lives; the directory is created and locked
under a temporary name and renamed into place, so no other process ever sees it unlocked. A
directory with that name and a ``lock`` file that can be locked belongs to a process that
died (SIGKILL, OOM, a crash): :meth:`WriteJournal.orphans` offers its records so that the next
process to start replays them, and :meth:`Orphan.delete` removes it once they are journaled
again by the new owner. Nothing else under the root is touched. Several processes (``serve
--workers``) may share a root; each adopts only directories no live process holds.

What this promises: an acknowledged write survives the process being killed; with
``fsync=True`` it also survives the machine losing power (each append, and each new segment's
directory entry, is ``fsync``\\ ed: about a millisecond on an SSD). A line torn by a crash
mid-append was never acknowledged and is skipped on replay.

Example::

    journal = WriteJournal(Path(".semcached/journal"))
    segment = journal.append([{"id": "k1", ...}])   # the segment the record went to
    journal.rotate()                                # the writer takes a batch
    ...                                             # write it
    journal.written([segment])                      # discards segments fully written
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

__all__ = ["Orphan", "WriteJournal"]

log = logging.getLogger("semcached.journal")

_SEGMENT_SUFFIX = ".jsonl"
_OWNED = re.compile(r"[0-9a-f]{32}")  # the only directory names a journal ever adopts


class Orphan:
    """The journal directory of a process that died, locked by its adopter until deleted."""

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.path = path
        self._lock_fd = lock_fd

    def records(self) -> Iterator[dict[str, Any]]:
        """Every complete record of its segments, oldest segment first."""
        for segment in _segments(self.path):
            yield from _read_segment(segment)

    def delete(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._lock_fd)

    def release(self) -> None:
        """Leave it for another process (its records are not this one's to write)."""
        os.close(self._lock_fd)


class WriteJournal:
    """This process's journal directory: append, rotate, count written; see the module doc."""

    def __init__(self, root: Path, *, fsync: bool = False, segment_records: int = 1024) -> None:
        self.root = Path(root)
        self.fsync = fsync
        self.segment_records = segment_records  # a segment is rotated once it holds this many
        self.root.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex
        staging = self.root / f".{name}.tmp"
        staging.mkdir()
        self._lock_fd = os.open(staging / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.path = self.root / name
        staging.rename(self.path)  # appears under its adoptable name already locked
        self._sync_dir(self.root)
        self._mutex = threading.Lock()
        self._number = 0
        self._file: IO[bytes] | None = None
        self._appended = 0  # records in the current segment
        self._outstanding: dict[int, int] = {}  # segment -> its records not yet written
        self._closed = False

    # -- the owner's writes -----------------------------------------------------------------

    def append(self, records: Sequence[dict[str, Any]]) -> int:
        """Add records to the current segment, flushed to the OS (and fsynced if asked)
        before returning: once this returns, they survive the process being killed. Returns
        the segment's number, which :meth:`written` takes back once they are written."""
        data = b"".join(orjson.dumps(r) + b"\n" for r in records)
        with self._mutex:
            if self._closed:
                raise RuntimeError("the write journal is closed")
            if self._file is not None and self._appended >= self.segment_records:
                self._file.close()  # bounded segments: a long burst never makes one huge file
                self._file = None
                self._number += 1
            if self._file is None:
                self._appended = 0
                self._file = open(self._segment_path(self._number), "ab")  # noqa: SIM115
                self._sync_dir(self.path)
            self._file.write(data)
            self._appended += len(records)
            self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())
            number = self._number
            self._outstanding[number] = self._outstanding.get(number, 0) + len(records)
            return number

    def rotate(self) -> None:
        """Start a new segment for the records appended from now on."""
        with self._mutex:
            if self._file is not None:
                self._file.close()
                self._file = None
                self._number += 1

    def written(self, segments: Iterable[int]) -> None:
        """One record of each of ``segments`` is in the index; segments none of whose
        records is outstanding any more, and that are no longer appended to, are deleted."""
        done: list[int] = []
        with self._mutex:
            for number in segments:
                left = self._outstanding.get(number, 0) - 1
                self._outstanding[number] = left
            for number, left in list(self._outstanding.items()):
                if left <= 0 and (number < self._number or self._file is None):
                    del self._outstanding[number]
                    done.append(number)
        for number in done:
            self._segment_path(number).unlink(missing_ok=True)

    @property
    def outstanding(self) -> int:
        """Records appended and not yet written."""
        with self._mutex:
            return sum(max(0, n) for n in self._outstanding.values())

    def close(self, *, keep: bool) -> None:
        """Stop appending. ``keep=False`` (every write reached the index): remove the
        directory; ``keep=True``: leave it for the next process to adopt."""
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            if self._file is not None:
                self._file.close()
                self._file = None
        if not keep:
            shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._lock_fd)

    # -- what dead processes left -------------------------------------------------------------

    def orphans(self) -> list[Orphan]:
        """Journal directories under the root that no live process holds, locked for us.
        Only directories a journal made (32 hex digits, with a ``lock`` file) are looked at."""
        found: list[Orphan] = []
        for path in sorted(self.root.iterdir()):
            if path == self.path or not path.is_dir() or not _OWNED.fullmatch(path.name):
                continue
            try:
                fd = os.open(path / "lock", os.O_RDWR)  # never created here
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a live process holds it
                os.close(fd)
                continue
            found.append(Orphan(path, fd))
        return found

    def _segment_path(self, number: int) -> Path:
        return self.path / f"{number:012d}{_SEGMENT_SUFFIX}"

    def _sync_dir(self, directory: Path) -> None:
        """A new file's directory entry survives power loss only once its directory is
        fsynced (with ``fsync``; otherwise nothing to do)."""
        if not self.fsync:
            return
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _segments(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob(f"*{_SEGMENT_SUFFIX}") if p.stem.isdigit())


def _read_segment(path: Path) -> Iterator[dict[str, Any]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        log.warning("cannot read journal segment %s: %s", path, exc)
        return
    for line in data.split(b"\n"):
        if not line:
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:  # torn by a crash mid-append: never acknowledged
            log.warning("skipping a torn line in journal segment %s", path)
            continue
        if isinstance(record, dict):
            yield record
