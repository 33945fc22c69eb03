"""Every sandbox response validates against Twilio's own OpenAPI description of the 2010 API.

Success responses: the path template and method exist, the status code is one the operation
documents, and the body validates against its response schema (OpenAPI 3.0 `nullable` turned
into JSON Schema, refs resolved with `referencing`, RFC 2822 dates checked), with exactly the
schema's properties. Error responses (which the spec does not describe): the path and method
exist, and the body has Twilio's error shape.
"""

from __future__ import annotations

import copy
import json
import os
import re
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from jsonschema import Draft7Validator, FormatChecker  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7
from twilio.base.exceptions import TwilioRestException
from twilio.http.response import Response
from twilio.rest import Client

from dialer.telephony.http import RewritingHttpClient
from dialer.telephony.sandbox.testing import SandboxHarness, WebhookReceiver

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "twilio" / "twilio_api_v2010.json"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ERROR_SHAPE = {
    "type": "object",
    "required": ["code", "message", "more_info", "status"],
    "additionalProperties": False,
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string", "minLength": 1},
        "more_info": {"type": "string", "pattern": r"^https://www\.twilio\.com/docs/errors/\d+$"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
    },
}


def _spec() -> dict[str, Any]:
    if not SPEC.exists():
        if IN_CI:
            pytest.fail(f"Twilio's OpenAPI spec is missing at {SPEC}: CI must have ../shared")
        pytest.skip(f"Twilio's OpenAPI spec is not at {SPEC} (../shared beside the repo)")
    data: dict[str, Any] = json.loads(SPEC.read_text(encoding="utf-8"))
    return data


def _nullable_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` → JSON Schema's null type (recursively)."""
    if isinstance(node, list):
        return [_nullable_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable_to_jsonschema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        if "$ref" in out:
            return {"anyOf": [{"$ref": out.pop("$ref")}, {"type": "null"}], **out}
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


class RecordingHttpClient(RewritingHttpClient):
    """Keeps every (method, path, response) the SDK saw."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.seen: list[tuple[str, str, Response]] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        response = super().request(method, url, *args, **kwargs)
        self.seen.append((method.lower(), urlsplit(url).path, response))
        return response


class OpenApi:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = _nullable_to_jsonschema(copy.deepcopy(spec))
        self.registry: Registry[Any] = Registry().with_resource(
            "spec", Resource.from_contents(self.spec, default_specification=DRAFT7)
        )
        self.templates = [
            (re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(p)) + "$"), p)
            for p in self.spec["paths"]
        ]
        self.formats = FormatChecker()
        self.formats.checks("date-time-rfc-2822", raises=(TypeError, ValueError))(
            lambda v: not isinstance(v, str) or parsedate_to_datetime(v).tzinfo is not None
        )

    def operation(self, method: str, path: str) -> dict[str, Any]:
        matches = [t for rx, t in self.templates if rx.match(path)]
        assert matches, f"{path} is not a path in Twilio's API"
        template = min(matches, key=len)
        op = self.spec["paths"][template].get(method)
        assert op is not None, f"{method.upper()} {template} is not an operation in Twilio's API"
        return dict(op)

    def check(self, method: str, path: str, response: Response) -> None:
        op = self.operation(method, path)
        body = json.loads(response.text)
        if response.status_code >= 400:
            Draft7Validator(ERROR_SHAPE).validate(body)
            assert body["status"] == response.status_code
            return
        documented = op["responses"]
        assert str(response.status_code) in documented, (method, path, response.status_code)
        schema = documented[str(response.status_code)]["content"]["application/json"]["schema"]
        wrapped = self._resolve_root(schema)
        validator = Draft7Validator(wrapped, registry=self.registry, format_checker=self.formats)
        errors = sorted(validator.iter_errors(body), key=str)
        assert not errors, f"{method.upper()} {path}: {errors[0]}"
        self._same_keys(schema, body, f"{method.upper()} {path}")

    def _resolve_root(self, schema: dict[str, Any]) -> dict[str, Any]:
        """Re-anchor the spec's local refs (#/components/...) at the registered spec resource."""
        text = json.dumps(schema).replace('"#/components/', '"spec#/components/')
        return dict(json.loads(text))

    def _deref(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = self.spec["components"]["schemas"][name]
        return schema

    def _same_keys(self, schema: dict[str, Any], body: Any, where: str) -> None:
        """Exactly the documented properties: none missing, none invented."""
        schema = self._deref(schema)
        if not isinstance(body, dict) or "properties" not in schema:
            return
        assert set(body) == set(schema["properties"]), (
            where,
            set(schema["properties"]) ^ set(body),
        )
        for key, sub in schema["properties"].items():
            sub = self._deref(sub)
            if sub.get("type") in ("array", ["array", "null"]) and isinstance(body[key], list):
                for item in body[key]:
                    self._same_keys(sub["items"], item, where)


@pytest.fixture
def openapi() -> OpenApi:
    return OpenApi(_spec())


def test_every_response_validates_against_twilios_openapi(
    openapi: OpenApi, sandbox: SandboxHarness, webhooks: WebhookReceiver
) -> None:
    sb = sandbox.sandbox
    recorder = RecordingHttpClient(sandbox.base_url)
    client = Client(sb.account_sid, sb.auth_token, http_client=recorder)
    webhooks.answer("/voice", "<Response><Gather numDigits='1'/><Hangup/></Response>")
    sb.person("+886912345678", "human", digits=["1"])
    sb.person("+886912000001", "human", sms_reply="1")
    sb.inbound_sms_url = webhooks.url("/sms-in")
    calls = [
        client.calls.create(
            to=n, from_="+15005550006", url=webhooks.url("/voice"), machine_detection="Enable"
        )
        for n in ("+886912345678", "+886912000001", "+886912000002")
    ]
    client.calls(calls[2].sid).update(status="canceled")
    msg = client.messages.create(to="+886912000001", from_="+15005550006", body="您好")
    client.messages.create(
        to="+886912000002", messaging_service_sid="MG" + "b" * 32, body="x" * 200
    )
    sandbox.settle()
    for c in calls:
        client.calls(c.sid).fetch()
    client.messages(msg.sid).fetch()
    list(client.calls.list(page_size=2))
    client.calls.page(page_size=1).next_page().previous_page()
    list(client.calls.list(to="+886912345678", start_time_after=sandbox.clock.now().date()))
    list(client.messages.list(page_size=2))
    list(client.messages.list(date_sent=sandbox.clock.now().date()))
    for to in ("+15005550001", "+15005550009", "+15005550004"):
        with pytest.raises(TwilioRestException):
            client.messages.create(to=to, from_="+15005550006", body="hi")
    sb.fail_next(1, status=429, retry_after=1)
    sb.fail_next(1, status=503)
    for _ in range(2):
        with pytest.raises(TwilioRestException):
            client.messages.create(to="+886912345678", from_="+15005550006", body="hi")
    with pytest.raises(TwilioRestException):
        client.calls("CA" + "f" * 32).fetch()
    bad = Client(sb.account_sid, "wrong", http_client=recorder)
    with pytest.raises(TwilioRestException):
        bad.messages.create(to="+886912345678", from_="+15005550006", body="hi")

    statuses = {r.status_code for _, _, r in recorder.seen}
    assert {200, 201, 400, 401, 404, 429, 503} <= statuses
    assert len(recorder.seen) >= 20
    for method, path, response in recorder.seen:
        openapi.check(method, path, response)


def test_the_validator_catches_a_wrong_response(openapi: OpenApi) -> None:
    """No test that cannot fail: a bad date and an invented field are both caught."""
    path = "/2010-04-01/Accounts/AC" + "0" * 32 + "/Calls/CA" + "0" * 32 + ".json"
    good: dict[str, Any] = {
        k: None
        for k in openapi._deref(openapi.spec["components"]["schemas"]["api.v2010.account.call"])[
            "properties"
        ]
    }
    good["status"] = "queued"
    openapi.check("get", path, Response(200, json.dumps(good)))
    with pytest.raises(AssertionError):
        openapi.check(
            "get", path, Response(200, json.dumps({**good, "date_created": "2026-11-24"}))
        )
    with pytest.raises(AssertionError):
        openapi.check("get", path, Response(200, json.dumps({**good, "invented": 1})))
    with pytest.raises(AssertionError):  # through the $ref to call_enum_status
        openapi.check("get", path, Response(200, json.dumps({**good, "status": "dialing"})))
    with pytest.raises(AssertionError):  # a status code the operation does not document
        openapi.check("get", path, Response(201, json.dumps(good)))
    with pytest.raises(AssertionError):
        openapi.check("delete", "/2010-04-01/Nope.json", Response(200, "{}"))
