"""SMS replies: answers (full-width too), opt-out and opt-in words, "later" with or without a
time in the customer's zone, free text kept, nothing usable; and no input ever makes it fail."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.sms_replies import parse_reply

REPLIES = {"1": "satisfied", "2": "average", "3": "unsatisfied"}
OPT_OUT = ["退訂", "STOP"]
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 10:00 in Taipei, 11:00 in Seoul


def read(body: str, zone: str = "Asia/Taipei"):  # type: ignore[no-untyped-def]
    return parse_reply(body, REPLIES, OPT_OUT, NOW, zone)


@pytest.mark.parametrize(
    ("body", "outcome"),
    [("1", "satisfied"), ("２", "average"), (" ３ ", "unsatisfied"), ("1.", "satisfied")],
)
def test_answer_keys_half_and_full_width(body: str, outcome: str) -> None:
    reply = read(body)
    assert (reply.kind, reply.outcome) == ("answer", outcome)


@pytest.mark.parametrize(
    "body", ["STOP", "stop", "Unsubscribe", "退訂", "TD", "수신거부", "ｓｔｏｐ"]
)
def test_opt_out_words(body: str) -> None:
    assert read(body).kind == "opt_out"


def test_opt_in_and_unknown() -> None:
    assert read("START").kind == "opt_in"
    assert read("   ").kind == "unknown"


@pytest.mark.parametrize(
    ("body", "zone", "local"),
    [
        ("19:00", "Asia/Taipei", "2026-11-24 19:00"),
        ("明天 19:00", "Asia/Taipei", "2026-11-25 19:00"),
        ("明天下午3點", "Asia/Taipei", "2026-11-25 15:00"),
        ("내일 7시", "Asia/Seoul", "2026-11-25 07:00"),
        ("오후 7시 30분", "Asia/Seoul", "2026-11-24 19:30"),
        ("tomorrow 7pm", "America/New_York", "2026-11-24 19:00"),  # it is still the 23rd there
        ("9:30", "Asia/Taipei", "2026-11-25 09:30"),  # already past today: the next one
    ],
)
def test_later_with_a_time_in_the_customers_zone(body: str, zone: str, local: str) -> None:
    from zoneinfo import ZoneInfo

    reply = read(body, zone)
    assert reply.kind == "later" and reply.at is not None
    assert f"{reply.at.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M}" == local


def test_later_without_a_time_and_free_text_kept() -> None:
    later = read("晚點再打給我")
    assert later.kind == "later" and later.at is None
    text = read("服務很好，但是等太久了")
    assert (text.kind, text.text) == ("text", "服務很好，但是等太久了")
    assert read("4").kind == "text"  # not a reply key, not a time: the customer's own words


@given(st.text(max_size=2000))
def test_any_text_gets_a_meaning_and_never_fails(body: str) -> None:
    reply = read(body)
    assert reply.kind in ("answer", "opt_out", "opt_in", "later", "text", "unknown")
    assert len(reply.text) <= 1600
    assert reply.at is None or reply.at > NOW
