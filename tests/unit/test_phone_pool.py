"""The phone-number worker: same answers as parsing here, whatever happens to the worker."""

from __future__ import annotations

import io

import pytest

from dialer import phone_pool
from dialer.phone_pool import PhonePrefetch, parse_keys, serve, worth_a_worker
from dialer.phones import PhoneParser

KEYS = [
    ("0912-345-678", "TW"),
    ("０９１２３４５６７８", "TW"),
    ("010-2345-6789", "KR"),
    ("13812345678", "CN"),
    ("(415) 555-2671", "US"),
    ("02-2345-6789 轉 12", "TW"),
    ("12345", "TW"),
    ("n/a", "TW"),
]


def expected() -> dict[tuple[str, str], object]:
    return dict(parse_keys(KEYS, PhoneParser()))


def test_worker_answers_like_this_process() -> None:
    with PhonePrefetch(PhoneParser(), enabled=True) as prefetch:
        assert prefetch.active
        first = prefetch.result(prefetch.submit(KEYS))
        second = prefetch.result(prefetch.submit(KEYS[::-1]))
    assert first == expected()
    assert second == expected()
    assert not prefetch.active


def test_without_a_worker_everything_is_parsed_here() -> None:
    with PhonePrefetch(PhoneParser(), enabled=False) as prefetch:
        assert not prefetch.active
        assert prefetch.result(prefetch.submit(KEYS)) == expected()


def test_a_dead_worker_is_replaced_by_parsing_here() -> None:
    with PhonePrefetch(PhoneParser(), enabled=True) as prefetch:
        worker = prefetch._worker
        assert worker is not None
        ticket = prefetch.submit(KEYS)
        worker.kill()
        worker.wait()
        assert prefetch.result(ticket) == expected()
        assert not prefetch.active
        assert prefetch.result(prefetch.submit(KEYS)) == expected()


def test_a_worker_that_cannot_start_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(phone_pool, "_start_worker", lambda: None)
    with PhonePrefetch(PhoneParser(), enabled=True) as prefetch:
        assert not prefetch.active
        assert prefetch.result(prefetch.submit(KEYS)) == expected()


def test_one_batch_at_a_time() -> None:
    with PhonePrefetch(PhoneParser(), enabled=True) as prefetch:
        ticket = prefetch.submit(KEYS)
        with pytest.raises(RuntimeError, match="one batch at a time"):
            prefetch.submit(KEYS)
        assert prefetch.result(ticket) == expected()


def test_serve_answers_each_request_and_stops_at_end_of_input() -> None:
    requests = io.BytesIO()
    phone_pool._send(requests, KEYS)
    phone_pool._send(requests, KEYS[:2])
    requests.seek(0)
    answers = io.BytesIO()
    serve(requests, answers)
    answers.seek(0)
    first = phone_pool._receive(answers)
    second = phone_pool._receive(answers)
    assert isinstance(first, list) and isinstance(second, list)
    assert dict(zip(KEYS, map(phone_pool._from_wire, first), strict=True)) == expected()
    assert len(second) == 2
    with pytest.raises(EOFError):
        phone_pool._receive(answers)


def test_small_files_and_single_cores_stay_in_one_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert not worth_a_worker(1 << 20)
    monkeypatch.setattr(phone_pool, "usable_cores", lambda: 2)
    assert worth_a_worker(50 << 20)
    monkeypatch.setattr(phone_pool, "usable_cores", lambda: 1)
    assert not worth_a_worker(50 << 20)
