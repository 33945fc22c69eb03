"""Full collections' survivors leave the collector's passes; garbage is still collected.

Run in a fresh interpreter: the policy is per process and must not change the test runner's.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

PROBE = textwrap.dedent(
    """
    import gc, weakref
    from dialer.long_lived_heap import freeze_after_full_collections

    class Node:
        pass

    freeze_after_full_collections()
    freeze_after_full_collections()  # idempotent: one callback
    assert gc.callbacks.count(gc.callbacks[-1]) == 1 and len(gc.callbacks) == 1
    kept = [Node() for _ in range(1000)]              # the log that only grows
    cycle = Node(); cycle.me = cycle                  # garbage, reachable only from itself
    gone = weakref.ref(cycle); del cycle
    gc.collect(1)                                     # a young collection freezes nothing
    before = gc.get_freeze_count()
    gc.collect()                                      # a full one: survivors frozen after it
    print(before, gc.get_freeze_count() >= len(kept), gone() is None)
    """
)


def test_survivors_of_a_full_collection_are_frozen_and_garbage_is_not() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert out == ["0", "True", "True"]
