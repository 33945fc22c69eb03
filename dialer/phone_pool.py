"""Phone numbers of the next batch parsed in a second process while this one writes the current.

phonenumbers is pure Python and about half of a big import's CPU time, and it is a pure
function of (number, region): a second process can parse the next batch's distinct numbers
while the importer checks and writes the current one, and the results are the same whichever
process computed them. `PhonePrefetch` keeps that safe to use:

- bounded: one batch is in flight at a time, so memory does not grow with the file;
- deterministic: a worker that cannot start, dies or answers nonsense is dropped and its batch
  parsed in this process, which gives the same answers;
- clean: the worker ignores Ctrl-C (the importer handles it and closes the pipe), exits when
  its input closes, and `close()` waits for it (then kills it if it hangs);
- optional: on a one-core machine, or for files too small to repay the worker's start-up
  (`worth_a_worker`), everything stays in one process.

The worker is a plain `python -c` child talking marshal over its stdin/stdout, not
multiprocessing: spawn and forkserver re-run the caller's `__main__` in the child (a script
without a `__name__` guard would import twice), and fork copies a process that holds a
database connection and perhaps a progress-bar thread.
"""

from __future__ import annotations

import marshal
import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Self, cast

from dialer.models import PhoneType
from dialer.phones import ParsedPhone, PhoneParser

__all__ = [
    "Known",
    "PhoneKey",
    "PhonePrefetch",
    "Ticket",
    "parse_keys",
    "serve",
    "usable_cores",
    "worker_main",
    "worth_a_worker",
]

# A worker costs about half a second to start (a fresh interpreter importing dialer.phones) and
# saves ~40 µs per number, so on small files it barely pays; from 8 MiB (~80,000 rows) it
# clearly does. (Also keeps `ingest.py --quick`, 50,000 vs 10,000 rows, single-process on both
# sides of its memory comparison.)
MIN_WORKER_BYTES: Final = 8 << 20
# Seconds close() waits for a worker to exit once its input is closed, before killing it.
_EXIT_WAIT: Final = 5.0
_LENGTH_BYTES: Final = 8

PhoneKey = tuple[str, str]  # (stripped number text, upper-case region): PhoneParser's cache key
Known = dict[PhoneKey, ParsedPhone | str]  # a parse result, or the reason the number is unusable
# ParsedPhone as plain values marshal can carry.
_Wire = tuple[str, str, str | None, str | None, tuple[str, ...]] | str


class Ticket:
    """One submitted batch: its keys, and whether the worker is parsing them."""

    __slots__ = ("keys", "sent")

    def __init__(self, keys: list[PhoneKey], sent: bool) -> None:
        self.keys = keys
        self.sent = sent


def usable_cores() -> int:
    """CPUs this process may run on (its affinity, not the machine's total)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def worth_a_worker(size_bytes: int) -> bool:
    """Whether a file is big enough, and the machine wide enough, for a parsing process."""
    return size_bytes >= MIN_WORKER_BYTES and usable_cores() >= 2


def parse_keys(keys: Iterable[PhoneKey], parser: PhoneParser) -> Known:
    """Parse in this process: what the worker does, used when there is none or it failed."""
    return {key: parser.lookup(*key) for key in keys}


class PhonePrefetch:
    """At most one batch of numbers being parsed by a worker process; see the module docstring.

    `submit(keys)` starts parsing one batch and returns a ticket; `result(ticket)` waits for
    it, and must come before the next `submit` (the worker answers one request at a time,
    which is also what keeps the pipes from deadlocking). Without a worker (`enabled=False`,
    or after it failed) `result` parses in this process with `fallback`, so callers never need
    a second code path.
    """

    def __init__(self, fallback: PhoneParser, *, enabled: bool) -> None:
        self._fallback = fallback
        self._worker: subprocess.Popen[bytes] | None = None
        self._in_flight: Ticket | None = None
        if enabled:
            self._worker = _start_worker()

    @property
    def active(self) -> bool:
        """Whether a worker is parsing (False: everything happens in this process)."""
        return self._worker is not None

    def submit(self, keys: list[PhoneKey]) -> Ticket:
        """Start parsing `keys` in the worker, if there is one."""
        if self._in_flight is not None:
            raise RuntimeError("PhonePrefetch takes one batch at a time: result() it first")
        worker = self._worker
        if worker is None or not keys:
            return Ticket(keys, sent=False)
        try:
            _send(_pipe(worker.stdin), keys)
        except (OSError, ValueError):  # the worker is gone: parse here instead
            self._stop()
            return Ticket(keys, sent=False)
        ticket = self._in_flight = Ticket(keys, sent=True)
        return ticket

    def result(self, ticket: Ticket) -> Known:
        """The parsed numbers of one submitted batch, in whichever process that takes."""
        if ticket.sent and ticket is self._in_flight:
            self._in_flight = None
            worker = self._worker
            if worker is not None:
                try:
                    wire = _receive(_pipe(worker.stdout))
                    if isinstance(wire, list) and len(wire) == len(ticket.keys):
                        return {k: _from_wire(w) for k, w in zip(ticket.keys, wire, strict=True)}
                except (OSError, EOFError, ValueError, TypeError, KeyError):
                    pass
                self._stop()  # no usable answer: never trust this worker again
        return parse_keys(ticket.keys, self._fallback)

    def close(self) -> None:
        """Stop the worker: close its input, wait for it to exit, kill it if it will not."""
        self._stop()

    def _stop(self) -> None:
        worker, self._worker = self._worker, None
        self._in_flight = None
        if worker is None:
            return
        for pipe in (worker.stdin, worker.stdout):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass
        try:
            worker.wait(_EXIT_WAIT)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def worker_main() -> None:
    """The worker process: Ctrl-C is the importer's to handle; stdout carries only answers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sink = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print() must not corrupt the answers
    serve(sys.stdin.buffer, sink)
    # Every answer is flushed and nothing else is worth tearing down: skip freeing the cache
    # object by object (a third of a second the importer would wait for in close()).
    os._exit(0)


def serve(source: IO[bytes], sink: IO[bytes]) -> None:
    """The worker's loop: read a batch of keys, answer with their parses, until input ends."""
    lookup = PhoneParser().lookup  # bounded; repeat visits hit it across batches
    while True:
        try:
            keys = cast(list[PhoneKey], _receive(source))
        except EOFError:
            return
        try:
            _send(sink, [_to_wire(lookup(raw, region)) for raw, region in keys])
        except BrokenPipeError:  # the importer stopped listening
            return


def _start_worker() -> subprocess.Popen[bytes] | None:
    """A worker running this very copy of dialer (its parent directory first on sys.path)."""
    package_root = str(Path(__file__).resolve().parent.parent)
    code = f"import sys; sys.path.insert(0, {package_root!r}); import dialer.phone_pool as p; p.worker_main()"
    try:
        return subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
    except OSError:
        return None


def _pipe(stream: IO[bytes] | None) -> IO[bytes]:
    if stream is None:
        raise ValueError("the worker has no pipe")
    return stream


def _send(stream: IO[bytes], value: list[PhoneKey] | list[_Wire]) -> None:
    data = marshal.dumps(value)
    stream.write(len(data).to_bytes(_LENGTH_BYTES, "little"))
    stream.write(data)
    stream.flush()


def _receive(stream: IO[bytes]) -> object:
    head = stream.read(_LENGTH_BYTES)
    if len(head) < _LENGTH_BYTES:
        raise EOFError("the pipe closed")
    size = int.from_bytes(head, "little")
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the pipe closed mid-message")
    return marshal.loads(data)


def _to_wire(result: ParsedPhone | str) -> _Wire:
    if isinstance(result, str):
        return result
    return (
        result.e164,
        result.phone_type.value,
        result.region,
        result.extension,
        result.time_zones,
    )


def _from_wire(wire: _Wire) -> ParsedPhone | str:
    if isinstance(wire, str):
        return wire
    e164, kind, region, extension, zones = wire
    return ParsedPhone(e164, _PHONE_TYPES[kind], region, extension, zones)


_PHONE_TYPES: Final = {t.value: t for t in PhoneType}
