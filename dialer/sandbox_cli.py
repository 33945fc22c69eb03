"""`dialer sandbox`: run the Twilio-compatible sandbox in real time until Ctrl-C or SIGTERM.

Mounted by `dialer.cli` with `app.command("sandbox")(sandbox_command)`. Prints the base URL and
the account SID and auth token (generated unless given) so a dialer, the demo or a benchmark in
another process can dial it: `DIALER_TWILIO_API_BASE`, `DIALER_TWILIO_ACCOUNT_SID`,
`DIALER_TWILIO_AUTH_TOKEN`.
"""

from __future__ import annotations

import re
import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from dialer.clock import SystemClock
from dialer.errors import UsageError

EXIT_INTERRUPTED = 130
LOOPBACK = ("127.0.0.1", "::1", "localhost")
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")


def _check(
    port: int, host: str, account_sid: str | None, cps: float, speed: float, latency: float
) -> None:
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {port}")
    if host not in LOOPBACK:
        raise UsageError(f"--host must be a loopback address (127.0.0.1, ::1), got {host!r}")
    if account_sid is not None and not ACCOUNT_SID.match(account_sid):
        raise UsageError("--account-sid must be 'AC' followed by 32 hexadecimal digits")
    if cps <= 0 or speed <= 0:
        raise UsageError("--cps, --mps and --speed must be positive numbers")
    if latency < 0:
        raise UsageError(f"--latency must not be negative, got {latency}")


def sandbox_command(
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8765,
    host: Annotated[str, typer.Option(help="Loopback address to listen on.")] = "127.0.0.1",
    account_sid: Annotated[
        str | None, typer.Option(help="Account SID to accept (default: a new one).")
    ] = None,
    auth_token: Annotated[
        str | None, typer.Option(help="Auth token to accept and sign with (default: a new one).")
    ] = None,
    cps: Annotated[float, typer.Option(help="Calls per second the account dials.")] = 1.0,
    mps: Annotated[float, typer.Option(help="SMS segments per second the account sends.")] = 10.0,
    seed: Annotated[int, typer.Option(help="Seed of the simulated customers.")] = 0,
    speed: Annotated[
        float, typer.Option(help="Simulated calls run this many times faster than real time.")
    ] = 1.0,
    inbound_sms_url: Annotated[
        str | None, typer.Option(help="Where customers' SMS replies are posted.")
    ] = None,
    latency: Annotated[float, typer.Option(help="Seconds added to every API response.")] = 0.0,
) -> None:
    """Run the Twilio-compatible sandbox (simulated customers) on loopback until Ctrl-C."""
    _check(port, host, account_sid, min(cps, mps), speed, latency)
    from dialer.long_lived_heap import freeze_after_full_collections
    from dialer.telephony.sandbox import Sandbox, SandboxServer  # only this command needs them

    sb = Sandbox(
        SystemClock(),
        account_sid=account_sid,
        auth_token=auth_token,
        seed=seed,
        cps=cps,
        mps=mps,
        speed=speed,
        inbound_sms_url=inbound_sms_url,
    )
    sb.faults.latency = latency
    server = SandboxServer(sb, host=host, port=port)
    try:
        server.start()
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc}") from exc
    sb.run_in_background()
    freeze_after_full_collections()  # its logs only grow: no full-collection pauses (bursts)
    print(f"sandbox listening on {server.base_url}", flush=True)
    print(f"account SID: {sb.account_sid}", flush=True)
    print(f"auth token: {sb.auth_token}", flush=True)
    print(
        f"DIALER_TWILIO_API_BASE={server.base_url} DIALER_TWILIO_ACCOUNT_SID={sb.account_sid} "
        f"DIALER_TWILIO_AUTH_TOKEN={sb.auth_token}",
        flush=True,
    )
    stop = threading.Event()
    interrupted = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # Both signals only set the event: no KeyboardInterrupt lands at a random point of the
        # main thread (inside a lock's wait, say), so stopping is the same path every time.
        nonlocal interrupted
        interrupted = interrupted or signum == signal.SIGINT
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()
        sb.close()
    code = EXIT_INTERRUPTED if interrupted else 0
    print("sandbox stopped", flush=True)
    if code:
        raise typer.Exit(code)
