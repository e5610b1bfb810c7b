"""A write-ahead journal for vector writes made after the caller was answered.

A process appends each write (one JSON line) to the current *segment* of its own journal
directory and flushes it to the operating system before the write is acknowledged; the
background writer then takes everything queued, :meth:`WriteJournal.rotate`\\ s to a new
segment, writes the batch to the vector index and :meth:`WriteJournal.discard`\\ s the old
segment. So a segment on disk holds exactly the writes not yet known to be in the index.

Each process owns one directory under the journal root (``<root>/<random id>/``) and holds an
exclusive ``flock`` on its ``lock`` file while it lives. A directory whose lock can be taken
belongs to a process that died (SIGKILL, OOM, a crash): :meth:`WriteJournal.orphans` reads its
segments so that the next process to start replays them, and :meth:`WriteJournal.adopted`
deletes it once they are journaled again by the new owner. Several processes (``serve
--workers``) may share a root; each adopts only directories no live process holds.

What this promises: an acknowledged write survives the process being killed; with
``fsync=True`` it also survives the machine losing power (each append is then ``fsync``\\ ed,
about a millisecond on an SSD). A line torn by a crash mid-append was never acknowledged and
is skipped on replay.

Example::

    journal = WriteJournal(Path(".semcached/journal"))
    journal.append([{"id": "k1", ...}])
    segment = journal.rotate()      # the writer's batch is everything up to here
    ...                             # write the batch
    journal.discard(segment)
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

__all__ = ["Orphan", "WriteJournal"]

log = logging.getLogger("semcached.journal")

_SEGMENT_SUFFIX = ".jsonl"


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


class WriteJournal:
    """This process's journal directory: append, rotate, discard; see the module docstring."""

    def __init__(self, root: Path, *, fsync: bool = False) -> None:
        self.root = Path(root)
        self.fsync = fsync
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / uuid.uuid4().hex
        self.path.mkdir()
        self._lock_fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._mutex = threading.Lock()
        self._number = 0
        self._file: IO[bytes] | None = None
        self._closed = False

    # -- the owner's writes -----------------------------------------------------------------

    def append(self, records: Sequence[dict[str, Any]]) -> None:
        """Add records to the current segment, flushed to the OS (and fsynced if asked)
        before returning: once this returns, they survive the process being killed."""
        if not records:
            return
        data = b"".join(orjson.dumps(r) + b"\n" for r in records)
        with self._mutex:
            if self._closed:
                raise RuntimeError("the write journal is closed")
            if self._file is None:
                self._file = open(self._segment_path(self._number), "ab")  # noqa: SIM115
            self._file.write(data)
            self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())

    def rotate(self) -> int:
        """Close the current segment and start the next; returns the closed one's number.
        Every record appended before this call is in that segment or an older one."""
        with self._mutex:
            number = self._number
            if self._file is not None:
                self._file.close()
                self._file = None
            self._number += 1
            return number

    def discard(self, number: int) -> None:
        """Delete segments up to and including ``number``: their records are in the index."""
        for segment in _segments(self.path):
            if _segment_number(segment) <= number:
                segment.unlink(missing_ok=True)

    def close(self, *, keep: bool) -> None:
        """Stop appending. ``keep=False`` (every write reached the index): remove the
        directory; ``keep=True``: leave it for the next process to adopt."""
        with self._mutex:
            self._closed = True
            if self._file is not None:
                self._file.close()
                self._file = None
        if not keep:
            shutil.rmtree(self.path, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)

    # -- what dead processes left -------------------------------------------------------------

    def orphans(self) -> list[Orphan]:
        """Journal directories under the root that no live process holds, locked for us."""
        found: list[Orphan] = []
        for path in sorted(self.root.iterdir()):
            if path == self.path or not path.is_dir():
                continue
            try:
                fd = os.open(path / "lock", os.O_RDWR | os.O_CREAT, 0o600)
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


def _segments(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob(f"*{_SEGMENT_SUFFIX}") if p.stem.isdigit())


def _segment_number(path: Path) -> int:
    return int(path.stem)


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
