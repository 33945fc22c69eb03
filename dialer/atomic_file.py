"""Files written whole or not at all: a hidden temporary next to the target, renamed over it.

Exports, reports and rejects files are read by people and other programs; an interrupted or
failed write must never leave half a file under the real name (nor the temporary behind).
"""

from __future__ import annotations

import os
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
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        result = write(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        named = f"{what} {str(target)!r}" if what else repr(str(target))
        raise UsageError(f"cannot write {named}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return result
