"""Keep a growing, append-only heap out of the cyclic garbage collector's full passes.

A process whose records only accumulate (the sandbox keeps every call, message, request and
arrival it saw, as Twilio's logs would) gives each full collection more to walk: after 100,000
calls a full pass takes 100–150 ms of one core on a quiet machine, and it comes again each time
the heap grows by a quarter. For the sandbox, which stands in for Twilio's edge and stamps each
request as it reads it, such a pause stamps the backlog it piled up in one burst: the fleet's
busiest second in the 100,000-call soak (`scripts/bench/scale.py --parts 4`) read 109–110
against a CPS of 100 while the fleet kept its slots.

After each full collection the survivors are moved to the permanent generation (`gc.freeze`):
they are long-lived by then, and the next passes walk only what came since. Garbage is
collected before it is frozen, so only objects still alive are kept out.
"""

from __future__ import annotations

import gc
from typing import Any

_installed = False


def _freeze_survivors(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


def freeze_after_full_collections() -> None:
    """From now on, every full collection's survivors leave the collector's passes (once per
    process; idempotent)."""
    global _installed
    if not _installed:
        gc.callbacks.append(_freeze_survivors)
        _installed = True
