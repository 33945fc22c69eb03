"""Files written whole or not at all: a hidden temporary next to the target, renamed over it.

Exports, reports and rejects files are read by people and other programs; an interrupted or
failed write must never leave half a file under the real name (nor the temporary behind). They
hold customer data, so the temporary is made by `tempfile.mkstemp` in the target's folder:
an unpredictable name opened O_CREAT|O_EXCL|O_NOFOLLOW with mode 0600, so a symlink planted at
a guessable name cannot redirect the write, and the finished file is readable by its owner only.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from dialer.errors import UsageError

T = TypeVar("T")


def write_atomically(target: Path, write: Callable[[Path], T], *, what: str = "") -> T:
    """`write(temporary)`, then the temporary renamed over `target`; what `write` returned.

    On any failure the temporary is removed and `target` is left as it was; an OSError becomes
    a UsageError naming the file (`what`, e.g. "the rejects file", says which one it is).
    """
    named = f"{what} {str(target)!r}" if what else repr(str(target))
    if not target.name or target.is_dir():
        raise UsageError(f"cannot write {named}: it is a folder; give a file name")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise UsageError(f"cannot write {named}: {exc.strerror or exc}") from exc
    tmp = Path(name)
    try:
        try:
            result = write(tmp)
            mine = os.fstat(fd)
            now = os.stat(tmp, follow_symlinks=False)
            if (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino):  # swapped while writing
                raise OSError(f"its temporary file {tmp.name} was replaced while being written")
            os.replace(tmp, target)
        finally:
            os.close(fd)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {named}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return result
