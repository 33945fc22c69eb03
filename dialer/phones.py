"""Phone-number normalisation for customer files.

Customer files from Taiwan, Korea, China and the US hold phone numbers as people type them:
full-width digits, national trunk prefixes, "+886 (0)912…", "轉12" extensions, labels such as
"(手機)", several numbers in one cell. Everything downstream (deduplication, SMS, rest-hour
checks) needs one canonical E.164 string plus the number's type, region and time zones, so this
module turns a raw cell into exactly that or into a PhoneError whose reason a user can act on.
"""

from __future__ import annotations

import functools
import re
import traceback
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from phonenumbers.phonenumberutil import ValidationResult, is_number_type_geographical
from phonenumbers.timezone import (
    UNKNOWN_TIMEZONE,
    time_zones_for_geographical_number,
    time_zones_for_number,
)

from dialer.errors import PhoneError
from dialer.models import PhoneType

__all__ = [
    "ParsedPhone",
    "PhoneParser",
    "mask_phone",
    "parse_phone",
    "sort_key",
    "split_phone_cell",
]

DEFAULT_CACHE_SIZE: Final = 100_000

# Region code phonenumbers uses for numbers that belong to no country (+800, +870, ...).
_NON_GEO_REGION: Final = "001"
# "+" and at most 15 digits (ITU-T E.164).
_MAX_E164_LENGTH: Final = 16
# Longest text we echo back inside an error reason; customer cells can hold whole paragraphs.
_MAX_SHOWN: Final = 40

_TYPE_MAP: Final[dict[int, PhoneType]] = {
    PhoneNumberType.MOBILE: PhoneType.MOBILE,
    PhoneNumberType.FIXED_LINE: PhoneType.FIXED_LINE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: PhoneType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.VOIP: PhoneType.VOIP,
    PhoneNumberType.TOLL_FREE: PhoneType.TOLL_FREE,
}

# The order agents should try a customer's numbers in: a mobile reaches the person (and takes
# SMS); numbers that may be mobiles next; shared or paid lines last.
_SORT_RANK: Final[dict[PhoneType, int]] = {
    PhoneType.MOBILE: 0,
    PhoneType.FIXED_LINE_OR_MOBILE: 1,
    PhoneType.VOIP: 2,
    PhoneType.FIXED_LINE: 3,
    PhoneType.TOLL_FREE: 4,
    PhoneType.OTHER: 5,
}

# Chinese (traditional and simplified) and Korean extension markers; phonenumbers only knows
# the Latin ones ("ext", "x", "#"), so these are rewritten to " ext. " before parsing.
_CJK_EXTENSION = re.compile(r"\s*(?:分機|分机|轉|转|내선)\s*[:.]?\s*")
# "+886 (0)912…": the trunk 0 written inside an international number.
_BRACKETED_TRUNK = re.compile(r"^(\s*(?:\+|00)\s*[1-9]\d{0,2}[\s-]*)[(\[]\s*0\s*[)\]]")
# Words in a cell ("mobile", "手機", "王小明"): letters of any script, digits excluded.
_WORD = re.compile(r"[^\W\d_]+\.?")
_EXTENSION_WORDS: Final = frozenset({"ext", "ext.", "extn", "extn.", "extension", "x", "x."})
_LEADING_JUNK = re.compile(r"[\s(\[.\-]*(?:00[\s.\-]*)?")

# Separators between several numbers in one cell; NFKC is not applied first so that the parts
# handed back are the user's own text, hence the full-width forms.
_CELL_SEPARATOR = re.compile(r"\s*(?:[/;,、，／；或]|\sor\s)\s*", re.IGNORECASE)
_STARTS_WITH_EXTENSION = re.compile(
    r"^\s*(?:ext\.?|extn\.?|extension|x|#|分機|分机|轉|转|내선)\s*[:.]?\s*\d", re.IGNORECASE
)
_ASCII_DIGITS = re.compile(r"[0-9]", re.ASCII)
_MASK: Final = "•"


@dataclass(frozen=True, slots=True)
class ParsedPhone:
    """One usable phone number, in the form every other module stores and compares."""

    e164: str
    phone_type: PhoneType
    region: str | None
    """ISO region of the number, e.g. "TW"; None for non-geographic numbers (+800, +870...)."""
    extension: str | None
    time_zones: tuple[str, ...]
    """IANA zones the number may ring in; () when phonenumbers cannot tell."""


def parse_phone(raw: str, region: str) -> ParsedPhone:
    """Normalise one number as typed in a customer file, or raise PhoneError saying why not.

    `region` is the two-letter region used for numbers written without a country code (the
    row's country or the campaign default).
    """
    result = _parse_or_reason(raw.strip(), region.strip().upper())
    if isinstance(result, str):
        raise PhoneError(result, value=raw)
    return result


class PhoneParser:
    """parse_phone behind a bounded LRU cache, for million-row imports.

    Customer files repeat numbers (one customer, several visits; re-imports of yesterday's
    file), and a cache hit costs well under a microsecond against 17-25 µs for a parse.
    Failures are cached as their reason so a bad number repeated 10,000 times is parsed once.
    The cache holds at most `maxsize` entries (about 0.4 KB each, ~40 MB at the default size),
    so memory stays bounded however long the file.
    """

    __slots__ = ("_lookup",)

    def __init__(self, maxsize: int = DEFAULT_CACHE_SIZE) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, not {maxsize}")
        # A fresh wrapper per instance: each parser has its own cache.
        self._lookup = functools.lru_cache(maxsize=maxsize)(_parse_or_reason)

    def parse(self, raw: str, region: str) -> ParsedPhone:
        """Same contract as parse_phone; repeated (number, region) pairs come from the cache."""
        result = self._lookup(raw.strip(), region.strip().upper())
        if isinstance(result, str):
            raise PhoneError(result, value=raw)
        return result

    def lookup(self, raw: str, region: str) -> ParsedPhone | str:
        """parse() without the exception: the number, or the reason it is unusable.

        The form results travel in between processes (`dialer.phone_pool`), and cheaper than
        raising for the ~1% of bad numbers in a big file.
        """
        return self._lookup(raw.strip(), region.strip().upper())

    @property
    def maxsize(self) -> int:
        """The most entries the cache will hold."""
        maxsize = self._lookup.cache_info().maxsize
        assert maxsize is not None  # always bounded: set in __init__
        return maxsize

    def __len__(self) -> int:
        """Entries currently cached (successes and failures)."""
        return self._lookup.cache_info().currsize

    def cache_info(self) -> functools._CacheInfo:
        """Hits, misses and size, for import statistics."""
        return self._lookup.cache_info()

    def clear(self) -> None:
        """Forget everything, e.g. between imports that use different default regions."""
        self._lookup.cache_clear()


def split_phone_cell(raw: str) -> list[str]:
    """Split a cell that lists several numbers ("0912…/02-2345…", "A or B") into its parts.

    Only separators that never occur inside one number are used, so "+886 (0)912-345-678" and
    "02-2345-6789 ext. 12" stay whole; a part that is only an extension ("…, ext 12") is joined
    back to the number before it. Empty parts are dropped.
    """
    if _CELL_SEPARATOR.search(raw) is None:  # the common case: one number per cell
        part = raw.strip()
        return [part] if part else []
    parts: list[str] = []
    for piece in _CELL_SEPARATOR.split(raw):
        part = piece.strip()
        if not part:
            continue
        if parts and _STARTS_WITH_EXTENSION.match(part):
            parts[-1] = f"{parts[-1]} {part}"
        else:
            parts.append(part)
    return parts


def mask_phone(e164: str) -> str:
    """Show a number in logs and listings without disclosing it: "+886 9•••••678".

    Keeps the country code, at most the first national digit and the last three; always hides
    at least half of the national digits (all of them when there are three or fewer). Input
    that is not E.164 is masked the same way without a country code, never echoed.
    """
    text = unicodedata.normalize("NFKC", e164).strip()
    digits = "".join(_ASCII_DIGITS.findall(text))
    if not digits:
        return "" if not text else _MASK * 3
    prefix = ""
    national = digits
    if text.startswith("+"):
        code = _country_code_prefix(digits)
        prefix = f"+{code} " if code else "+"
        national = digits[len(code) :]
    n = len(national)
    tail = 3 if n >= 7 else (n // 3 if n >= 4 else 0)
    head = 1 if n - tail >= 6 else 0
    hidden = n - tail - head
    return f"{prefix}{national[:head]}{_MASK * hidden}{national[n - tail :]}".rstrip()


# A run of at least seven digits, maybe led by + and split by spaces, dots, dashes or brackets
# (ASCII or full-width): anything that could be a phone number written inside a message.
_NUMBER_IN_TEXT = re.compile(r"\+?[(（]?[0-9０-９](?:[\s().\-（）－]{0,3}[0-9０-９]){6,}")


def mask_numbers_in(text: str) -> str:
    """`text` with every phone-number-like run masked as `mask_phone` masks it: for errors and
    log lines that quote a file's cells or Twilio's message ("The 'To' number +1555… is not
    valid"), which must not carry a customer's number (客戶資料保密)."""
    return _NUMBER_IN_TEXT.sub(lambda m: mask_phone(m.group()), text)


def sort_key(p: ParsedPhone) -> int:
    """Rank for ordering a customer's numbers: the likeliest to reach the person first."""
    return _SORT_RANK[p.phone_type]


# --- internals -----------------------------------------------------------------------------


def _parse_or_reason(cleaned: str, region: str) -> ParsedPhone | str:
    """The parse itself, returning the failure reason instead of raising so it can be cached."""
    if not cleaned:
        return "empty phone number"
    text = unicodedata.normalize("NFKC", cleaned)
    if not text.isascii():
        text = _CJK_EXTENSION.sub(" ext. ", text)
    first_reason: str | None = None
    for attempt, reportable in _attempts(text):
        try:
            number = phonenumbers.parse(attempt, region)
        except NumberParseException as exc:
            reason = _parse_failure(exc, cleaned, region)
            # phonenumbers.parse keeps a caught exception in a local (sys.exc_info()): a frame
            # <-> traceback cycle that would hold every caller's frame until a full collection.
            traceback.clear_frames(exc.__traceback__)
        else:
            parsed = _to_parsed(number)
            if parsed is not None:
                return parsed
            reason = _invalid_reason(number, cleaned)
        # Report the first specific reason: "not a phone number" only if nothing better came up.
        if reportable and (first_reason is None or first_reason.startswith("not a phone")):
            first_reason = reason
    assert first_reason is not None  # the first attempt is always reportable
    return first_reason


def _attempts(text: str) -> Iterator[tuple[str, bool]]:
    """Readings of the text to try in order, each with whether its failure is worth reporting.

    The text as written comes first, so a number phonenumbers accepts is never reinterpreted
    (vanity numbers like 1-800-FLOWERS included). Later readings repair what customer files
    do: labels around the number, "(0)" after the country code, and the country code written
    without "+" ("886912…", "00886912…"); the last kind can only succeed by luck, so its
    errors ("unknown country code") would only confuse and are not reported.
    """
    seen = {text}
    yield text, True
    bases = [text]
    unlabelled = _WORD.sub(_keep_extension_word, text)
    if unlabelled not in seen:
        seen.add(unlabelled)
        bases.append(unlabelled)
        yield unlabelled, True
    for base in list(bases):
        untrunked = _BRACKETED_TRUNK.sub(r"\1", base)
        if untrunked not in seen:
            seen.add(untrunked)
            bases.append(untrunked)
            yield untrunked, True
    for base in bases:
        if base.lstrip().startswith("+"):
            continue
        junk = _LEADING_JUNK.match(base)
        rest = base[junk.end() :] if junk else base
        international = f"+{rest}"
        # No country code starts with 0, so "+0..." cannot parse: skip that parse.
        if rest[:1].isdigit() and rest[:1] != "0" and international not in seen:
            seen.add(international)
            yield international, False


def _keep_extension_word(match: re.Match[str]) -> str:
    word = match.group()
    return f" {word} " if word.lower() in _EXTENSION_WORDS else " "


def _to_parsed(number: phonenumbers.PhoneNumber) -> ParsedPhone | None:
    """Build the result, or None when the number is not valid.

    Validity comes from number_type: is_valid_number(n) is exactly "number_type(n) is not
    UNKNOWN" (both run the same region lookup and pattern match), and calling one instead of
    both saves a third of the parse time. phonenumbers also accepts some German numbers longer
    than E.164's 15 digits; nobody can dial those, so they are refused too.
    """
    ntype = phonenumbers.number_type(number)
    code = number.country_code
    if ntype == PhoneNumberType.UNKNOWN or code is None:
        return None
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    if len(e164) > _MAX_E164_LENGTH:
        return None
    region = phonenumbers.region_code_for_number(number)
    return ParsedPhone(
        e164=e164,
        phone_type=_TYPE_MAP.get(ntype, PhoneType.OTHER),
        region=None if region in (None, _NON_GEO_REGION) else region,
        extension=number.extension or None,
        time_zones=_time_zones(number, code, ntype),
    )


def _time_zones(number: phonenumbers.PhoneNumber, code: int, ntype: int) -> tuple[str, ...]:
    """time_zones_for_number without its second number_type call; () for "Etc/Unknown"."""
    if is_number_type_geographical(ntype, code):
        zones = tuple(time_zones_for_geographical_number(number))
    else:
        # Non-geographic types (most mobiles, toll-free) get the whole country's zones.
        zones = _country_zones(number, code)
        if ntype in _PLACELESS_TYPES and len(zones) > 1:
            # A +1 800 number says nothing about where its owner sleeps: keep no zone, so the
            # campaign's default zone applies instead of the intersection of Guam and Newfoundland.
            return ()
    return () if zones == (UNKNOWN_TIMEZONE,) else zones


_PLACELESS_TYPES = frozenset(
    {
        PhoneNumberType.TOLL_FREE,
        PhoneNumberType.PREMIUM_RATE,
        PhoneNumberType.SHARED_COST,
        PhoneNumberType.UAN,
        PhoneNumberType.PERSONAL_NUMBER,
        PhoneNumberType.VOICEMAIL,
        PhoneNumberType.PAGER,
    }
)


_COUNTRY_ZONES: dict[int, tuple[str, ...]] = {}


def _country_zones(number: phonenumbers.PhoneNumber, code: int) -> tuple[str, ...]:
    """Country-level zones depend only on the country code, so look them up once per code."""
    zones = _COUNTRY_ZONES.get(code)
    if zones is None:
        zones = tuple(time_zones_for_number(number))
        _COUNTRY_ZONES[code] = zones
    return zones


def _show(cleaned: str) -> str:
    """The user's text quoted for a reason, shortened so a pasted paragraph stays readable."""
    if len(cleaned) > _MAX_SHOWN:
        cleaned = cleaned[: _MAX_SHOWN - 3] + "..."
    return repr(cleaned)


def _region_label(number: phonenumbers.PhoneNumber) -> str:
    code = number.country_code or 0
    region = phonenumbers.region_code_for_country_code(code)
    if region in (_NON_GEO_REGION, phonenumbers.UNKNOWN_REGION):
        return f"country code +{code}"
    return f"region {region}"


def _parse_failure(exc: NumberParseException, cleaned: str, region: str) -> str:
    shown = _show(cleaned)
    kind = exc.error_type
    if kind == NumberParseException.INVALID_COUNTRY_CODE:
        if region not in phonenumbers.SUPPORTED_REGIONS:
            return (
                f"{shown} has no +country code and {region!r} is not a known region to read it in"
            )
        return f"{shown} has an unknown country code"
    if kind in (NumberParseException.TOO_SHORT_NSN, NumberParseException.TOO_SHORT_AFTER_IDD):
        return f"{shown} is too short to be a phone number"
    if kind == NumberParseException.TOO_LONG:
        return f"{shown} is too long to be a phone number"
    return f"not a phone number: {shown}"


def _invalid_reason(number: phonenumbers.PhoneNumber, cleaned: str) -> str:
    shown = _show(cleaned)
    where = _region_label(number)
    why = phonenumbers.is_possible_number_with_reason(number)
    too_long = len(phonenumbers.format_number(number, PhoneNumberFormat.E164)) > _MAX_E164_LENGTH
    if too_long or why == ValidationResult.TOO_LONG:
        return f"{shown} is too long for a phone number of {where}"
    if why == ValidationResult.TOO_SHORT:
        return f"{shown} is too short for a phone number of {where}"
    if why == ValidationResult.INVALID_COUNTRY_CODE:
        return f"{shown} has an unknown country code"
    if why == ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        return f"{shown} is not a valid number for {where} (is the area code missing?)"
    return f"{shown} is not a valid number for {where}"


def _country_code_prefix(digits: str) -> str:
    """The leading country calling code of E.164 digits, or "" when none is recognised."""
    for length in (1, 2, 3):
        code = digits[:length]
        if len(code) == length and int(code) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return code
    return ""
