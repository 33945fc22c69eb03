"""Phone normalisation against the real phonenumbers library, on what customer files contain."""

from __future__ import annotations

import dataclasses
import re

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers.timezone import time_zones_for_number

from dialer.errors import PhoneError, RowError
from dialer.models import PhoneType
from dialer.phones import (
    ParsedPhone,
    PhoneParser,
    mask_phone,
    parse_phone,
    sort_key,
    split_phone_cell,
)

E164 = re.compile(r"^\+[1-9]\d{6,14}$", re.ASCII)
REGIONS = ["TW", "KR", "CN", "US"]


def reason_of(raw: str, region: str) -> str:
    with pytest.raises(PhoneError) as caught:
        parse_phone(raw, region)
    return caught.value.reason


# --- national formats of the four markets ---------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "e164", "phone_type", "number_region"),
    [
        ("0912345678", "TW", "+886912345678", PhoneType.MOBILE, "TW"),
        ("0912-345-678", "TW", "+886912345678", PhoneType.MOBILE, "TW"),
        ("0912.345.678", "TW", "+886912345678", PhoneType.MOBILE, "TW"),
        ("(02) 2345-6789", "TW", "+886223456789", PhoneType.FIXED_LINE, "TW"),
        ("[02]23456789", "TW", "+886223456789", PhoneType.FIXED_LINE, "TW"),
        ("0800-000-123", "TW", "+886800000123", PhoneType.TOLL_FREE, "TW"),
        ("010-1234-5678", "KR", "+821012345678", PhoneType.MOBILE, "KR"),
        ("010-2000-0000", "KR", "+821020000000", PhoneType.MOBILE, "KR"),
        ("02-312-3456", "KR", "+8223123456", PhoneType.FIXED_LINE, "KR"),
        ("070-1234-5678", "KR", "+827012345678", PhoneType.VOIP, "KR"),
        ("1544-1234", "KR", "+8215441234", PhoneType.OTHER, "KR"),
        ("13812345678", "CN", "+8613812345678", PhoneType.MOBILE, "CN"),
        ("138 1234 5678", "CN", "+8613812345678", PhoneType.MOBILE, "CN"),
        ("010-1234 5678", "CN", "+861012345678", PhoneType.FIXED_LINE, "CN"),
        ("(212) 555-0123", "US", "+12125550123", PhoneType.FIXED_LINE_OR_MOBILE, "US"),
        ("415-555-2671", "US", "+14155552671", PhoneType.FIXED_LINE_OR_MOBILE, "US"),
        ("1 415 555 2671", "US", "+14155552671", PhoneType.FIXED_LINE_OR_MOBILE, "US"),
        ("+1 (800) 233-4455", "US", "+18002334455", PhoneType.TOLL_FREE, "US"),
        ("+44 909 876 5432", "US", "+449098765432", PhoneType.OTHER, "GB"),
    ],
)
def test_national_and_international_formats(
    raw: str, region: str, e164: str, phone_type: PhoneType, number_region: str
) -> None:
    parsed = parse_phone(raw, region)
    assert parsed.e164 == e164
    assert parsed.phone_type is phone_type
    assert parsed.region == number_region
    assert parsed.extension is None


def test_region_is_the_numbers_own_not_the_default() -> None:
    assert parse_phone("+1 416-555-0199", "US").region == "CA"
    assert parse_phone("+82 10-1234-5678", "TW").region == "KR"


def test_region_argument_is_case_and_space_insensitive() -> None:
    assert parse_phone("0912345678", " tw ") == parse_phone("0912345678", "TW")


def test_a_number_with_country_code_ignores_an_unknown_default_region() -> None:
    assert parse_phone("+886 912 345 678", "XX").e164 == "+886912345678"


def test_result_is_a_frozen_hashable_value() -> None:
    parsed = parse_phone("0912345678", "TW")
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.e164 = "+1"  # type: ignore[misc]
    assert {parsed, parse_phone("0912-345-678", "TW")} == {parsed}


# --- full-width text (Chinese/Japanese input methods) ----------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("０９１２３４５６７８", "TW", "+886912345678"),
        ("０９１２－３４５－６７８", "TW", "+886912345678"),
        ("＋８８６　９１２　３４５　６７８", "US", "+886912345678"),
        ("＋８８６（０）９１２－３４５－６７８", "US", "+886912345678"),
        ("（０２）２３４５－６７８９", "TW", "+886223456789"),
        ("０１０－１２３４－５６７８", "KR", "+821012345678"),
        ("１３８１２３４５６７８", "CN", "+8613812345678"),
    ],
)
def test_full_width_digits_and_symbols(raw: str, region: str, e164: str) -> None:
    assert parse_phone(raw, region).e164 == e164


# --- "(0)" trunk prefix inside international numbers -----------------------------------------


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+886 (0)912 345 678", "+886912345678"),
        ("+886 (0)912-345-678", "+886912345678"),
        ("+886(0)912345678", "+886912345678"),
        ("+886 ( 0 ) 912 345 678", "+886912345678"),
        ("+886 [0] 912 345 678", "+886912345678"),
        ("+886 0912 345 678", "+886912345678"),
        ("+886 (0)2 2345 6789", "+886223456789"),
        ("+82 (0)10-1234-5678", "+821012345678"),
        ("+86 (0)138 1234 5678", "+8613812345678"),
        ("+44 (0)20 7946 0958", "+442079460958"),
        ("00886 (0)912 345 678", "+886912345678"),
    ],
)
@pytest.mark.parametrize("region", ["TW", "US"])
def test_bracketed_trunk_zero_is_dropped(raw: str, e164: str, region: str) -> None:
    assert parse_phone(raw, region).e164 == e164


def test_italian_leading_zero_is_part_of_the_number_and_kept() -> None:
    # Italy has no trunk prefix: the 0 belongs to the number, blind stripping would break it.
    assert parse_phone("+39 (0)6 1234 5678", "US").e164 == "+390612345678"
    assert parse_phone("+39 06 1234 5678", "US").e164 == "+390612345678"


# --- country code written without "+" --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("00886912345678", "TW", "+886912345678"),
        ("00886912345678", "US", "+886912345678"),
        ("00 886 912 345 678", "KR", "+886912345678"),
        ("886912345678", "TW", "+886912345678"),
        ("886912345678", "US", "+886912345678"),
        ("886-912-345-678", "CN", "+886912345678"),
        ("8613812345678", "US", "+8613812345678"),
        ("82-10-1234-5678", "US", "+821012345678"),
        ("0082 10 1234 5678", "TW", "+821012345678"),
        ("(886) 912345678", "US", "+886912345678"),
    ],
)
def test_country_code_without_plus(raw: str, region: str, e164: str) -> None:
    assert parse_phone(raw, region).e164 == e164


def test_a_valid_national_reading_wins_over_a_country_code_reading() -> None:
    # 212… is valid in the US; it must not be reread as Morocco (+212).
    assert parse_phone("2125550123", "US").e164 == "+12125550123"


# --- extensions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("02-2345-6789 ext 12", "TW"),
        ("02-2345-6789 ext. 12", "TW"),
        ("02-2345-6789 EXT 12", "TW"),
        ("02-2345-6789 ext:12", "TW"),
        ("02-2345-6789 #12", "TW"),
        ("02-2345-6789 x12", "TW"),
        ("02-2345-6789轉12", "TW"),
        ("02-2345-6789 轉 12", "TW"),
        ("02-2345-6789分機12", "TW"),
        ("02-2345-6789 分機：12", "TW"),
        ("02-2345-6789分機 12", "TW"),
        ("02-2345-6789转12", "TW"),
        ("02-2345-6789 分机12", "TW"),
        ("０２－２３４５－６７８９＃１２", "TW"),
        ("+886 2 2345 6789 分機 12", "US"),
        ("02-2345-6789 ext. 12 (office)", "TW"),
    ],
)
def test_extensions_are_kept_apart(raw: str, region: str) -> None:
    parsed = parse_phone(raw, region)
    assert parsed.e164 == "+886223456789"
    assert parsed.extension == "12"


def test_korean_extension_marker() -> None:
    parsed = parse_phone("02-312-3456 내선 12", "KR")
    assert (parsed.e164, parsed.extension) == ("+8223123456", "12")


def test_us_extension() -> None:
    parsed = parse_phone("(212) 555-0123 x 4567", "US")
    assert (parsed.e164, parsed.extension) == ("+12125550123", "4567")


# --- labels around the number ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("0912345678 (mobile)", "TW", "+886912345678"),
        ("0912345678 Mobile Phone", "TW", "+886912345678"),
        ("0912345678 手機", "TW", "+886912345678"),
        ("0912-345-678 (王小明)", "TW", "+886912345678"),
        ("手機：0912-345-678", "TW", "+886912345678"),
        ("Tel: (212) 555-0123", "US", "+12125550123"),
        ("휴대폰 010-1234-5678", "KR", "+821012345678"),
    ],
)
def test_labels_around_the_number_are_ignored(raw: str, region: str, e164: str) -> None:
    assert parse_phone(raw, region).e164 == e164


def test_vanity_numbers_still_read_as_letters_on_the_keypad() -> None:
    assert parse_phone("1-800-FLOWERS", "US").e164 == "+18003569377"


# --- time zones ------------------------------------------------------------------------------


def test_taiwan_mobile_time_zone() -> None:
    assert parse_phone("0912345678", "TW").time_zones == ("Asia/Taipei",)


@pytest.mark.parametrize(
    ("raw", "region", "zones"),
    [
        ("010-1234-5678", "KR", ("Asia/Seoul",)),
        ("13812345678", "CN", ("Asia/Shanghai",)),
        ("(212) 555-0123", "US", ("America/New_York",)),
        ("415-555-2671", "US", ("America/Los_Angeles",)),
        ("+1 416-555-0199", "US", ("America/Toronto",)),
    ],
)
def test_geographic_time_zones(raw: str, region: str, zones: tuple[str, ...]) -> None:
    assert parse_phone(raw, region).time_zones == zones


def test_unknown_time_zone_becomes_empty() -> None:
    # International freephone (+800) belongs to no country: phonenumbers says "Etc/Unknown".
    parsed = parse_phone("+800 1234 5678", "US")
    assert parsed.phone_type is PhoneType.TOLL_FREE
    assert parsed.region is None
    assert parsed.time_zones == ()


def test_us_toll_free_keeps_no_zone() -> None:
    # phonenumbers gives non-geographic +1 numbers every NANP zone (Guam to Newfoundland); such a
    # number says nothing about where its owner is, so it keeps none and takes the campaign's.
    assert parse_phone("+1 800 233 4455", "US").time_zones == ()
    # ... while a toll-free number of a one-zone country keeps that zone.
    assert parse_phone("0800-000-123", "TW").time_zones == ("Asia/Taipei",)


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("0912345678", "TW"),
        ("02-2345-6789", "TW"),
        ("010-1234-5678", "KR"),
        ("02-312-3456", "KR"),
        ("070-1234-5678", "KR"),
        ("13812345678", "CN"),
        ("010-1234 5678", "CN"),
        ("(212) 555-0123", "US"),
        ("+1 416-555-0199", "US"),
        ("+44 20 7946 0958", "US"),
        ("+7 912 345-67-89", "US"),
        ("+55 11 91234-5678", "US"),
    ],
)
def test_time_zones_match_phonenumbers_own_lookup(raw: str, region: str) -> None:
    number = phonenumbers.parse(raw, region)
    expected = tuple(z for z in time_zones_for_number(number) if z != "Etc/Unknown")
    assert parse_phone(raw, region).time_zones == expected


# --- invalid input ---------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["", "   ", "\t\n", "\u3000"])
def test_empty(raw: str) -> None:
    assert reason_of(raw, "TW") == "empty phone number"


@pytest.mark.parametrize("raw", ["abc", "n/a", "無", "+", "--"])
def test_not_a_number(raw: str) -> None:
    assert reason_of(raw, "TW") == f"not a phone number: {raw!r}"


def test_error_carries_the_raw_value_and_is_a_row_error() -> None:
    with pytest.raises(PhoneError) as caught:
        parse_phone("  abc ", "TW")
    err = caught.value
    assert isinstance(err, RowError)
    assert err.value == "  abc "
    assert err.column is None
    assert str(err) == err.reason == "not a phone number: 'abc'"


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("02-1234-5678", "TW", "'02-1234-5678' is not a valid number for region TW"),
        ("0812345678", "TW", "'0812345678' is not a valid number for region TW"),
        ("010-123-456", "KR", "'010-123-456' is not a valid number for region KR"),
        ("(012) 555-0123", "US", "'(012) 555-0123' is not a valid number for region US"),
        ("+886 1234 5678", "US", "'+886 1234 5678' is not a valid number for region TW"),
        (
            "555-0123",
            "US",
            "'555-0123' is not a valid number for region US (is the area code missing?)",
        ),
    ],
)
def test_invalid_for_region(raw: str, region: str, reason: str) -> None:
    assert reason_of(raw, region) == reason


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("12", "TW", "'12' is too short for a phone number of region TW"),
        ("0912", "TW", "'0912' is too short for a phone number of region TW"),
        ("+886 1", "US", "'+886 1' is too short to be a phone number"),
        ("011 1", "US", "'011 1' is too short to be a phone number"),
        ("091234567890123456", "TW", "'091234567890123456' is too long for a phone number of"),
        ("1234567890123456789012", "US", "'1234567890123456789012' is too long to be a phone"),
        ("+4939800000000398", "US", "'+4939800000000398' is too long"),
    ],
)
def test_too_short_and_too_long(raw: str, region: str, reason: str) -> None:
    assert reason_of(raw, region).startswith(reason)


def test_unknown_country_code() -> None:
    assert reason_of("+999 1234567", "US") == "'+999 1234567' has an unknown country code"


def test_unknown_region_for_a_national_number() -> None:
    assert reason_of("0912345678", "XX") == (
        "'0912345678' has no +country code and 'XX' is not a known region to read it in"
    )


def test_long_junk_is_shortened_in_the_reason() -> None:
    reason = reason_of("call me " * 50, "TW")
    assert reason == "'call me call me call me call me call ...' is too long to be a phone number"


# --- property: arbitrary text never escapes as anything but PhoneError -----------------------

PHONEISH = st.text(
    alphabet=st.sampled_from(list("0123456789０１２３４５６７８９+＋-－ ()（）.#x/轉分機ext:、或")),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(
    raw=st.one_of(st.text(), PHONEISH),
    region=st.sampled_from([*REGIONS, "GB", "DE", "JP", "XX", "", "001", "tw"]),
)
def test_parse_phone_returns_e164_or_raises_phone_error(raw: str, region: str) -> None:
    try:
        parsed = parse_phone(raw, region)
    except PhoneError as err:
        assert err.reason
        assert err.value == raw
        return
    assert E164.match(parsed.e164)
    assert phonenumbers.is_valid_number(phonenumbers.parse(parsed.e164))
    assert isinstance(parsed.phone_type, PhoneType)
    assert "Etc/Unknown" not in parsed.time_zones


@settings(max_examples=200, deadline=None)
@given(
    national=st.sampled_from(["0912345678", "02-2345-6789", "010-1234-5678", "13812345678"]),
    before=st.sampled_from(["", " ", "\u3000", "Tel:", "手機 "]),
    after=st.sampled_from(["", " ", "\u3000", " (mobile)", " 手機"]),
    full_width=st.booleans(),
)
def test_decoration_does_not_change_the_number(
    national: str, before: str, after: str, full_width: bool
) -> None:
    region = {"0912345678": "TW", "02-2345-6789": "TW", "010-1234-5678": "KR"}.get(national, "CN")
    text = national.translate(str.maketrans("0123456789-", "０１２３４５６７８９－"))
    raw = before + (text if full_width else national) + after
    assert parse_phone(raw, region) == parse_phone(national, region)


# --- split_phone_cell ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "parts"),
    [
        ("0912345678", ["0912345678"]),
        ("0912345678/0223456789", ["0912345678", "0223456789"]),
        ("0912-345-678 / 02-2345-6789", ["0912-345-678", "02-2345-6789"]),
        ("0912345678;0223456789", ["0912345678", "0223456789"]),
        ("0912345678, 0223456789", ["0912345678", "0223456789"]),
        ("0912345678、0223456789", ["0912345678", "0223456789"]),
        ("0912345678，0223456789", ["0912345678", "0223456789"]),
        ("0912345678；0223456789", ["0912345678", "0223456789"]),
        ("0912345678／0223456789", ["0912345678", "0223456789"]),
        ("0912345678 or 02 2345 6789", ["0912345678", "02 2345 6789"]),
        ("0912345678 OR 0223456789", ["0912345678", "0223456789"]),
        ("0912345678或0223456789", ["0912345678", "0223456789"]),
        ("a/b;c", ["a", "b", "c"]),
        ("+886 (0)912-345-678", ["+886 (0)912-345-678"]),
        ("02-2345-6789 ext. 12", ["02-2345-6789 ext. 12"]),
        ("02-2345-6789 轉12", ["02-2345-6789 轉12"]),
        ("(212) 555-0123, ext 12", ["(212) 555-0123 ext 12"]),
        ("02-2345-6789 / 分機 12", ["02-2345-6789 分機 12"]),
        (
            "0912345678 / 0912345679 / 02-2345-6789 #12",
            ["0912345678", "0912345679", "02-2345-6789 #12"],
        ),
        ("0912345678,,", ["0912345678"]),
        (" ; / ", []),
        ("", []),
        ("Floor 3, 0912345678", ["Floor 3", "0912345678"]),
    ],
)
def test_split_phone_cell(cell: str, parts: list[str]) -> None:
    assert split_phone_cell(cell) == parts


def test_split_parts_all_parse() -> None:
    cell = "０９１２－３４５－６７８、02-2345-6789轉12 or +1 (212) 555-0123"
    parsed = [parse_phone(part, "TW") for part in split_phone_cell(cell)]
    assert [p.e164 for p in parsed] == ["+886912345678", "+886223456789", "+12125550123"]
    assert parsed[1].extension == "12"


# --- mask_phone ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+886912345678", "+886 9•••••678"),
        ("+14155552671", "+1 4••••••671"),
        ("+821012345678", "+82 1••••••678"),
        ("+8613812345678", "+86 1•••••••678"),
        ("+8223123456", "+82 •••••456"),
        ("+6834002", "+683 •••2"),
        ("+886 912 345 678", "+886 9•••••678"),
        ("＋８８６９１２３４５６７８", "+886 9•••••678"),
        ("0912345678", "0••••••678"),
        ("+999123456789", "+9••••••••789"),
        ("+886123", "+886 •••"),
        ("+886", "+886"),
        ("+", "•••"),
        ("abc", "•••"),
        ("", ""),
    ],
)
def test_mask_phone(e164: str, masked: str) -> None:
    assert mask_phone(e164) == masked


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("0912345678", "TW"),
        ("02-2345-6789", "TW"),
        ("010-1234-5678", "KR"),
        ("02-312-3456", "KR"),
        ("13812345678", "CN"),
        ("(212) 555-0123", "US"),
        ("+800 1234 5678", "US"),
    ],
)
def test_mask_never_shows_the_national_number(raw: str, region: str) -> None:
    parsed = parse_phone(raw, region)
    number = phonenumbers.parse(parsed.e164)
    national = str(phonenumbers.national_significant_number(number))
    masked = mask_phone(parsed.e164)
    assert parsed.e164 not in masked
    assert national not in masked.replace(" ", "")
    assert masked.count("•") >= len(national) / 2


@settings(max_examples=300)
@given(st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True))
def test_mask_hides_at_least_half_of_the_digits(e164: str) -> None:
    masked = mask_phone(e164)
    shown = re.sub(r"[^0-9]", "", masked)
    assert shown != e164[1:]
    assert e164[1:] not in masked.replace(" ", "")
    assert masked.count("•") >= (len(e164) - 1 - 3) / 2


# --- sort_key --------------------------------------------------------------------------------


def test_sort_key_puts_mobiles_first() -> None:
    phones = [
        parse_phone(raw, region)
        for raw, region in [
            ("1544-1234", "KR"),
            ("0800-000-123", "TW"),
            ("02-2345-6789", "TW"),
            ("070-1234-5678", "KR"),
            ("(212) 555-0123", "US"),
            ("0912345678", "TW"),
        ]
    ]
    assert [p.phone_type for p in sorted(phones, key=sort_key)] == [
        PhoneType.MOBILE,
        PhoneType.FIXED_LINE_OR_MOBILE,
        PhoneType.VOIP,
        PhoneType.FIXED_LINE,
        PhoneType.TOLL_FREE,
        PhoneType.OTHER,
    ]


@pytest.mark.parametrize(
    ("phone_type", "rank"),
    [
        (PhoneType.MOBILE, 0),
        (PhoneType.FIXED_LINE_OR_MOBILE, 1),
        (PhoneType.VOIP, 2),
        (PhoneType.FIXED_LINE, 3),
        (PhoneType.TOLL_FREE, 4),
        (PhoneType.OTHER, 5),
    ],
)
def test_sort_key_ranks(phone_type: PhoneType, rank: int) -> None:
    assert sort_key(ParsedPhone("+886912345678", phone_type, "TW", None, ())) == rank


def test_sort_key_covers_every_type() -> None:
    ranks = {sort_key(ParsedPhone("+886912345678", t, "TW", None, ())) for t in PhoneType}
    assert len(ranks) == len(PhoneType)


# --- PhoneParser -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("0912345678", "TW"),
        ("０９１２３４５６７８", "TW"),
        ("02-2345-6789 分機 12", "TW"),
        ("010-1234-5678", "KR"),
        ("13812345678", "CN"),
        ("(212) 555-0123", "US"),
        ("886912345678", "US"),
    ],
)
def test_parser_matches_parse_phone(raw: str, region: str) -> None:
    parser = PhoneParser()
    first = parser.parse(raw, region)
    second = parser.parse(raw, region)
    assert first == second == parse_phone(raw, region)
    info = parser.cache_info()
    assert (info.hits, info.misses) == (1, 1)


def test_parser_key_ignores_surrounding_space_and_region_case() -> None:
    parser = PhoneParser()
    parser.parse("0912345678", "TW")
    parser.parse("  0912345678\t", "tw")
    assert len(parser) == 1
    assert parser.cache_info().hits == 1


def test_parser_keeps_regions_apart() -> None:
    parser = PhoneParser()
    assert parser.parse("02-2345-6789", "TW").e164 == "+886223456789"
    assert parser.parse("02-2345-6789", "KR").e164 == "+82223456789"
    assert len(parser) == 2


def test_parser_caches_failures_and_still_raises() -> None:
    parser = PhoneParser()
    reasons = []
    for raw in ["0912", " 0912 "]:
        with pytest.raises(PhoneError) as caught:
            parser.parse(raw, "TW")
        reasons.append(caught.value.reason)
        assert caught.value.value == raw
    assert reasons[0] == reasons[1] == reason_of("0912", "TW")
    assert parser.cache_info().hits == 1
    assert len(parser) == 1


def test_parser_stays_bounded() -> None:
    parser = PhoneParser(maxsize=50)
    assert parser.maxsize == 50
    for i in range(200):
        parser.parse(f"09{12345000 + i:08d}", "TW")
        assert len(parser) <= 50
    assert len(parser) == 50
    # The most recent entries are the ones kept.
    parser.parse(f"09{12345000 + 199:08d}", "TW")
    assert parser.cache_info().hits == 1
    parser.clear()
    assert len(parser) == 0


def test_parser_default_size_and_bad_size() -> None:
    assert PhoneParser().maxsize == 100_000
    with pytest.raises(ValueError, match="maxsize"):
        PhoneParser(maxsize=0)


def test_parsers_do_not_share_a_cache() -> None:
    one, two = PhoneParser(), PhoneParser()
    one.parse("0912345678", "TW")
    assert len(one) == 1
    assert len(two) == 0


def test_numbers_inside_a_message_are_masked_and_the_rest_kept() -> None:
    from dialer.phones import mask_numbers_in

    said = "Invalid 'To' Phone Number: +886912345678; headers found: '王小明', '0912-345-678'"
    assert mask_numbers_in(said) == (
        "Invalid 'To' Phone Number: +886 9•••••678; headers found: '王小明', '0••••••678'"
    )
    for kept in ("code 21211, HTTP 400", "row 12345 of 2 files", "run #123456"):
        assert mask_numbers_in(kept) == kept
