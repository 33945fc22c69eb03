"""Twilio's error answers: the JSON body, and the documented magic test numbers that trigger them."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An API request Twilio would refuse: HTTP status, Twilio error code, message, extra headers."""

    def __init__(
        self, status: int, code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


# Twilio's test numbers (https://www.twilio.com/docs/iam/test-credentials), as `To`.
CALL_TEST_NUMBERS: dict[str, tuple[int, str]] = {
    "+15005550001": (21217, "Phone number does not appear to be valid"),
    "+15005550002": (21214, "'To' phone number cannot be reached"),
    "+15005550003": (21215, "Account not authorized to call this number (geo permissions)"),
    "+15005550004": (21216, "Call blocked by Twilio blocklist"),
}
MESSAGE_TEST_NUMBERS: dict[str, tuple[int, str]] = {
    "+15005550001": (21211, "Invalid 'To' Phone Number"),
    "+15005550002": (21612, "The 'To' phone number is not currently reachable via SMS"),
    "+15005550003": (21408, "Permission to send an SMS has not been enabled for the region"),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}


def not_found(resource: str, sid: str) -> ApiError:
    return ApiError(404, 20404, f"The requested resource {resource} {sid} was not found")


def unauthorized() -> ApiError:
    return ApiError(401, 20003, "Authenticate")


def too_many(retry_after: float | None) -> ApiError:
    headers = {"Retry-After": str(max(0, round(retry_after)))} if retry_after is not None else {}
    return ApiError(429, 20429, "Too Many Requests", headers)


def server_error(status: int) -> ApiError:
    message = "Service Unavailable" if status == 503 else "Internal Server Error"
    return ApiError(status, 20500, message)
