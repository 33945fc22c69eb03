"""The `--watch` folder: which entries are customer files to import, read without ever blocking.

Anyone who can drop a file in the folder decides what `dialer run` reads. Only regular files
that lie inside the folder are imported: a symlink (it could point at any file the runner can
read, whose text would then be echoed in errors), a FIFO (opening it blocks until a writer comes,
so `--for` and SIGTERM would never be honoured), a device, socket or sub-folder is skipped with
one logged reason, never read. Every read opens with O_NOFOLLOW|O_NONBLOCK and checks the open
descriptor is a regular file, so an entry swapped after the listing is refused too.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

CUSTOMER_FILES = (".csv", ".tsv", ".txt", ".xlsx")
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


class NotARegularFile(OSError):
    """A watched entry that is not a plain file inside the folder (the message says what it is)."""


def _kind(mode: int) -> str | None:
    """What a non-regular entry is, in a user's words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


def customer_files(folder: Path) -> Iterator[Path]:
    """The regular customer files directly inside `folder`, sorted; every other entry with a
    customer-file suffix is logged once per listing as skipped, with the reason."""
    inside = folder.resolve()
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in CUSTOMER_FILES:
            continue
        try:
            mode = os.stat(path, follow_symlinks=False).st_mode
        except OSError as exc:
            log.warning("watched file %s skipped: %s", path.name, exc.strerror or exc)
            continue
        kind = _kind(mode)
        if kind is not None:
            log.warning("watched file %s skipped: it is %s, not a regular file", path.name, kind)
        elif path.resolve().parent != inside:
            log.warning("watched file %s skipped: it lies outside the watched folder", path.name)
        else:
            yield path


def read_regular(path: Path) -> bytes:
    """The whole file, opened without following a symlink and without blocking; NotARegularFile
    when what is there now is not a regular file."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        kind = _kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise NotARegularFile(f"{path.name} is {kind}, not a regular file")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read()
    finally:
        os.close(fd)
