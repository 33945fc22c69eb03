"""Which country a customer file's numbers are in, when its rows do not say (issue 18, item 1).

A row's region comes from, in order: the number itself (+CC or 00CC), the row's country cell,
`--region`, and then this module's inference for the whole file, made before anything is
written from a sample of its first rows. Evidence: the script of the headers and values
(Hangul -> KR, Traditional Han -> TW, Simplified Han -> CN), the legacy encoding (CP949 -> KR,
Big5 -> TW, GBK -> CN) and, weighing most, which candidate region makes the numbers valid.

A Seoul landline (02-312-3456) is also a valid Taipei number, so a number valid under the
default region proves little when the file is Korean: where the inference and the default
disagree, the inference is used only when it is clear (CLEAR_VALID of the numbers valid there
and under CLEAR_DEFAULT_BELOW under the default); otherwise the file is refused, naming the
likely region and `--region`. Pure apart from the phone parser's cache.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

import phonenumbers
from phonenumbers import PhoneNumberFormat

from dialer.customer_file import SourceRow
from dialer.errors import InputFileError, RowError
from dialer.phones import PhoneParser, split_phone_cell
from dialer.values import parse_country

__all__ = [
    "CLEAR_DEFAULT_BELOW",
    "CLEAR_VALID",
    "SAMPLE_ROWS",
    "FileRegion",
    "RegionUnclearError",
    "carries_country_code",
    "infer_file_region",
]

SAMPLE_ROWS: Final = 2000  # rows read ahead for the inference; enough for a clear share
CLEAR_VALID: Final = 0.9  # the inferred region must make at least this share valid ...
CLEAR_DEFAULT_BELOW: Final = 0.5  # ... and the default region less than this share
# Regions tried for numbers without a country code, beyond the default and the script's.
CANDIDATES: Final = ("TW", "KR", "CN", "HK", "JP", "US", "SG", "MY", "GB")
_ENCODING_REGION: Final = {
    "cp949": "KR",
    "euc_kr": "KR",
    "cp950": "TW",
    "big5": "TW",
    "big5hkscs": "HK",
    "gb18030": "CN",
    "gbk": "CN",
    "gb2312": "CN",
}
_ENCODING_NAME: Final = {"KR": "CP949/EUC-KR", "TW": "Big5", "HK": "Big5-HKSCS", "CN": "GBK"}
_SCRIPT_NAME: Final = {"KR": "Hangul", "TW": "Traditional Chinese", "CN": "Simplified Chinese"}
_COUNTRY_CODE = re.compile(r"^[\s(\[.\-]*(?:\+|00[1-9])")


class RegionUnclearError(InputFileError):
    """The file's numbers may belong to another country than the default: refused, exit 3."""


@dataclass(frozen=True)
class FileRegion:
    """The region numbers without a country code are read in, and why."""

    region: str
    source: str  # "--region", "default" or "inferred"
    default: str
    valid_share: dict[str, float] = field(default_factory=dict)  # region -> share valid there
    evidence: tuple[str, ...] = ()  # script and encoding evidence, as words
    numbers: int = 0  # numbers in the sample that carried no country code

    @property
    def inferred(self) -> bool:
        return self.source == "inferred"

    def note(self) -> str | None:
        """The one line the import prints when it reads numbers in another region than the default."""
        if not self.inferred:
            return None
        why = ", ".join(self.evidence)
        return (
            f"numbers without a country code were read as {self.region}, not the default "
            f"{self.default}: {_pct(self.valid_share.get(self.region, 0))} of them are valid in "
            f"{self.region}, {_pct(self.valid_share.get(self.default, 0))} in {self.default}"
            + (f" ({why})" if why else "")
            + f"; pass --region {self.default} to read them as {self.default}"
        )

    def as_json(self) -> dict[str, object]:
        return {
            "region": self.region,
            "source": self.source,
            "default": self.default,
            "valid_share": {k: round(v, 3) for k, v in sorted(self.valid_share.items())},
            "evidence": list(self.evidence),
            "sampled_numbers": self.numbers,
        }


def carries_country_code(raw: str) -> bool:
    """Whether a number as typed names its country (+82 ..., 0082 ...): no region needed."""
    return _COUNTRY_CODE.match(unicodedata.normalize("NFKC", raw)) is not None


def script_region(texts: Iterable[str]) -> str | None:
    """KR for Hangul, TW for Traditional-only Han, CN for Simplified-only Han; None if unclear.

    Traditional or Simplified is told by encodability: a character Big5 has and GB2312 lacks is
    Traditional (客戶), the reverse Simplified (客户); characters both share (姓名) say nothing.
    """
    hangul = traditional = simplified = 0
    for text in texts:
        if text.isascii():
            continue
        for ch in text:
            code = ord(ch)
            if 0xAC00 <= code <= 0xD7A3:
                hangul += 1
            elif 0x4E00 <= code <= 0x9FFF:
                kind = _han_kind(ch)
                traditional += kind == "T"
                simplified += kind == "S"
    han = traditional + simplified
    if hangul and hangul >= 2 * han:
        return "KR"
    if traditional > 2 * simplified and traditional >= 2:
        return "TW"
    if simplified > 2 * traditional and simplified >= 2:
        return "CN"
    return None


def _han_kind(ch: str) -> str:
    big5 = _encodes(ch, "big5")
    gb = _encodes(ch, "gb2312")
    if big5 and not gb:
        return "T"
    if gb and not big5:
        return "S"
    return ""


def _encodes(ch: str, codec: str) -> bool:
    try:
        ch.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def infer_file_region(
    rows: Sequence[SourceRow],
    headers: Sequence[str],
    encoding: str | None,
    default: str,
    phones: PhoneParser,
    *,
    name: str = "the file",
) -> FileRegion:
    """The region for the file's numbers without a country code; raises RegionUnclearError.

    Only numbers of rows without a usable country cell and without +CC/00CC count: the others
    already say where they are.
    """
    raws: list[str] = []
    texts: list[str] = list(headers)
    for row in rows:
        texts.extend(v for k, v in row.values.items() if k in ("name", "store", "service_type"))
        country = row.values.get("country")
        if country:
            try:
                parse_country(country, "country")
                continue
            except RowError:
                pass
        for _, cell in row.phones:
            raws.extend(raw for raw in split_phone_cell(cell) if not carries_country_code(raw))
    script = script_region(texts)
    by_encoding = _ENCODING_REGION.get((encoding or "").replace("-", "_").lower())
    evidence = []
    if script is not None:
        evidence.append(f"{_SCRIPT_NAME[script]} in the headers and values")
    if by_encoding is not None:
        evidence.append(f"{_ENCODING_NAME[by_encoding]} encoding")
    hint = script or by_encoding
    if not raws:
        return FileRegion(default, "default", default, {}, tuple(evidence), 0)
    valid: dict[str, list[bool]] = {default: _validity(raws, default, phones)}
    if hint is not None and hint != default:
        valid[hint] = _validity(raws, hint, phones)
    if _share(valid[default]) < CLEAR_VALID or (hint is not None and hint != default):
        for region in CANDIDATES:
            if region not in valid:
                valid[region] = _validity(raws, region, phones)
    order = list(valid)
    # Numbers valid in no region tried ("555", "12345") say nothing about the country: they
    # are rejected or dropped row by row and left out of the shares.
    usable = [i for i in range(len(raws)) if any(v[i] for v in valid.values())]
    if len(valid) > 1 and usable and len(usable) < len(raws):
        raws = [raws[i] for i in usable]
        valid = {r: [v[i] for i in usable] for r, v in valid.items()}
    share = {r: _share(v) for r, v in valid.items()}
    # The likeliest region: most numbers valid; on a tie most numbers written as that country
    # writes them ((415) 555-0123 is valid in KR too, as 0415-555-0123), then the script's,
    # then the default.
    rank = {r: i for i, r in enumerate(order)}
    top = max(share.values())
    tied = [r for r in share if share[r] == top]
    written = {r: _written_share(raws, r, phones) for r in tied} if len(tied) > 1 else {}
    best = max(
        tied,
        key=lambda r: (written.get(r, 0.0), r == hint, r == default, -rank[r]),
    )
    result = FileRegion(best, "inferred", default, share, tuple(evidence), len(raws))
    if best == default:
        return FileRegion(default, "default", default, share, tuple(evidence), len(raws))
    if share[best] >= CLEAR_VALID and share[default] < CLEAR_DEFAULT_BELOW:
        return result
    why = f" ({', '.join(evidence)})" if evidence else ""
    raise RegionUnclearError(
        f"{name} looks like a {best} file{why}: {_pct(share[best])} of its numbers without a "
        f"country code are valid in {best} and {_pct(share[default])} in the default region "
        f"{default}, so which country they are in is not clear; nothing was imported — pass "
        f"--region {best} (or --region {default}) to say which"
    )


def _validity(raws: Sequence[str], region: str, phones: PhoneParser) -> list[bool]:
    return [not isinstance(phones.lookup(raw, region), str) for raw in raws]


def _share(valid: Sequence[bool]) -> float:
    return sum(valid) / len(valid) if valid else 0.0


def _written_share(raws: Sequence[str], region: str, phones: PhoneParser) -> float:
    """Share of numbers whose digits are the region's own national way of writing them."""
    same = 0
    for raw in raws:
        parsed = phones.lookup(raw, region)
        if isinstance(parsed, str):
            continue
        number = phonenumbers.parse(parsed.e164)
        national = _digits(phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL))
        same += _digits(raw).startswith(national)
    return same / len(raws)


def _digits(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if ch.isdigit())


def _pct(share: float) -> str:
    return f"{share:.0%}"
