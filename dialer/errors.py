"""The error tree: every failure a user can cause is a DialerError with one clear sentence."""

from __future__ import annotations


class DialerError(Exception):
    """Root of dialer's errors; the CLI prints str(err) and exits with `exit_code`."""

    exit_code = 1


class UsageError(DialerError):
    """The command line asked for something that cannot be done."""

    exit_code = 2


class ConfigError(DialerError):
    """Settings or a campaign file are invalid."""

    exit_code = 2


class InputFileError(DialerError):
    """A customer file cannot be read at all (missing, unknown format, missing columns)."""

    exit_code = 3


class MissingColumnsError(InputFileError):
    """The file lacks required columns; raised before anything is written."""

    def __init__(self, missing: list[str], headers: list[str]) -> None:
        self.missing = missing
        self.headers = headers
        found = ", ".join(repr(h) for h in headers) or "none"
        super().__init__(
            f"the file is missing required column(s) {', '.join(missing)}; headers found: {found}"
        )


class RowError(DialerError):
    """One row (or cell) of a customer file is unusable; carries where and why."""

    def __init__(self, reason: str, column: str | None = None, value: str | None = None) -> None:
        self.reason = reason
        self.column = column
        self.value = value
        super().__init__(reason)


class PhoneError(RowError):
    """A phone number cannot be parsed or is not a valid number."""


class StoreError(DialerError):
    """The database cannot be reached or is not in the expected state."""

    exit_code = 4


class NotFoundError(DialerError):
    """A named record does not exist (or the caller may not see it)."""

    exit_code = 5


class TelephonyError(DialerError):
    """Twilio (or the sandbox) refused or failed a request; keeps Twilio's error code."""

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None) -> None:
        self.code = code
        self.status = status
        super().__init__(message)


class TransientTelephonyError(TelephonyError):
    """Worth retrying later: 429, 5xx, timeouts. `ambiguous` when the request may have been done."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        ambiguous: bool = False,
    ) -> None:
        self.retry_after = retry_after
        self.ambiguous = ambiguous
        super().__init__(message, code=code, status=status)


class PermanentTelephonyError(TelephonyError):
    """Retrying the same request cannot help: a bad or unreachable number, an opt-out, a refusal.

    `number_unusable` says the number cannot take this channel (mark it and try another);
    `opted_out` says the carrier holds an opt-out (STOP) for it.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        status: int | None = None,
        number_unusable: bool = False,
        opted_out: bool = False,
    ) -> None:
        self.number_unusable = number_unusable
        self.opted_out = opted_out
        super().__init__(message, code=code, status=status)


class TelephonyConfigError(TelephonyError):
    """Credentials or account settings are wrong: every request would fail, so dispatch stops."""

    exit_code = 2
