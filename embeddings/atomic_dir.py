"""Publish a directory atomically: build it under a temporary sibling name, then rename it.

A rename within one file system is atomic, so a reader sees either no directory or a complete
one, never a half-written file, even when two processes publish the same directory at once or
one is killed half-way.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["publish_dir", "staging_dir"]

_STALE_S = 24 * 3600  # a staging folder this old belongs to no running process


@contextlib.contextmanager
def staging_dir(target: Path) -> Iterator[Path]:
    """A new empty sibling of ``target`` to build in, removed afterwards whatever happens.

    Example::

        with staging_dir(out) as staging:
            (staging / "data.bin").write_bytes(payload)
            publish_dir(staging, out, overwrite=False, marker="data.bin")
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(target)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    )
    _chmod_like_mkdir(staging)
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def publish_dir(staging: Path, target: Path, *, overwrite: bool, marker: str) -> bool:
    """Flush ``staging`` to disk and rename it to ``target``; False when an existing complete
    ``target`` (one holding ``marker``) was kept because ``overwrite`` is false."""
    _fsync_tree(staging)
    try:
        os.rename(staging, target)  # replaces an empty directory, fails on a full one
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
        if not overwrite and (target / marker).is_file():
            return False  # another process published first: keep its directory, drop ours
        # Move the old one aside first; a reader that already loaded it keeps what it read, and
        # one that looks in between finds nothing (and builds its own).
        aside = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
        os.rename(target, aside)
        os.rename(staging, target)
        shutil.rmtree(aside, ignore_errors=True)
    _fsync_dir(target.parent)
    return True


def _chmod_like_mkdir(path: Path) -> None:
    """mkdtemp makes the folder private (0700); give it the mode a plain mkdir would."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o777 & ~umask)


def _remove_stale(target: Path) -> None:
    """Drop leftovers of builds killed mid-way (older than a day, so never a running one)."""
    cutoff = time.time() - _STALE_S
    for leftover in target.parent.glob(f".{target.name}.*"):
        with contextlib.suppress(OSError):
            if leftover.is_dir() and leftover.stat().st_mtime < cutoff:
                shutil.rmtree(leftover, ignore_errors=True)


def _fsync_tree(root: Path) -> None:
    """Flush every file and folder to disk before the rename makes them visible."""
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
        elif path.is_dir():
            _fsync_dir(path)
    _fsync_dir(root)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot fsync a directory
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
