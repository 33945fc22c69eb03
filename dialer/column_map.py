"""Customer-file headers to canonical fields: aliases in Chinese, Korean and English.

A shop's export names its columns as its staff do (手機, 휴대폰, Mobile No.), so a header is
matched by alias, NFKC-normalised and without case, spaces or punctuation, and `--map`
overrides what the aliases cannot know. Used by `dialer.customer_file` (the reader) and by
`dialer.text_encoding` (a decoding whose header names known columns is the right one).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from dialer.errors import MissingColumnsError, UsageError
from dialer.phones import mask_numbers_in

__all__ = [
    "FIELDS",
    "IGNORE",
    "REQUIRED",
    "ColumnMap",
    "alias_hits",
    "build_column_map",
    "clean_header",
    "header_field",
]

FIELDS = (
    "customer_id",
    "name",
    "title",
    "phone",
    "member",
    "consent",
    "country",
    "time_zone",
    "state",
    "language",
    "quiet_hours",
    "email",
    "service_date",
    "service_time",
    "service_type",
    "vehicle",
    "mileage",
    "store",
    "given_name",
    "family_name",
)
# service_date is optional: a plain customer list without service events is a valid file.
REQUIRED = ("name", "phone")
IGNORE = "ignore"

# --------------------------------------------------------------------------------- aliases
# Header aliases per field. Matching ignores case, spaces and punctuation and is NFKC-normalised,
# so "E-Mail", "e_mail" and "ＥＭＡＩＬ" are one alias. Generic words ("date", "id") lose to a
# specific alias of the same field when a file has both.
_ALIASES: dict[str, str] = {
    "customer_id": "客戶編號|客户编号|會員編號|会员编号|客戶代號|客户代号|客戶代碼|客户代码|客戶ID|客户ID|"
    "會員卡號|会员卡号|會員號|会员号|顧客編號|顾客编号|客戶號|客户号|會員ID|会员ID|고객번호|회원번호|"
    "고객ID|고객코드|회원ID|customer id|customer no|customer number|customer code|cust id|"
    "cust no|client id|member id|member no|member number|account id|account number",
    "name": "姓名|客戶姓名|客户姓名|名字|顧客姓名|顾客姓名|會員姓名|会员姓名|客戶名稱|客户名称|車主姓名|"
    "车主姓名|車主|车主|이름|고객명|성명|고객이름|회원명|고객성명|name|customer name|full name|"
    "client name|customer",
    "title": "稱謂|称谓|稱呼|称呼|尊稱|尊称|호칭|존칭|title|salutation|honorific",
    "member": "會員|会员|是否會員|是否会员|會員否|會員身分|会员身份|회원|회원여부|멤버십|member|is member|"
    "membership|is a member",
    "consent": "同意行銷|同意营销|行銷同意|营销同意|是否同意行銷|是否同意营销|同意接收行銷|同意接收营销|"
    "行銷通知|营销通知|마케팅동의|마케팅 수신동의|마케팅수신동의|광고수신동의|수신동의|consent|"
    "marketing consent|opt in|optin|accepts marketing|accepts email marketing|marketing opt in",
    "country": "國家|国家|國別|国别|國家代碼|国家代码|국가|국가코드|country|country code|nation",
    "time_zone": "時區|时区|시간대|타임존|time zone|timezone|tz",
    "state": "州|省|縣市|县市|州別|州/省|省份|省/州|居住州|居住地州|시도|시·도|도|광역시도|state|province|"
    "state province|state or province|region state|us state|subdivision|state code|province code",
    "language": "語言|语言|偏好語言|偏好语言|언어|사용언어|language|lang|locale|preferred language",
    "quiet_hours": "勿擾時段|勿扰时段|免打擾時段|免打扰时段|休息時間|休息时间|不便時段|不便时段|"
    "不方便時段|不方便时段|방해금지시간|방해금지|통화불가시간|quiet hours|do not disturb|dnd",
    "email": "電子郵件|电子邮件|電子信箱|电子信箱|電郵|电邮|郵箱|邮箱|信箱|이메일|전자메일|메일|email|"
    "email address|e mail",
    "service_date": "服務日期|服务日期|維修日期|维修日期|保養日期|保养日期|來店日期|来店日期|到店日期|"
    "進廠日期|进厂日期|消費日期|消费日期|購買日期|购买日期|交易日期|訂單日期|订单日期|服務日|"
    "서비스일자|서비스 날짜|서비스일|방문일|방문일자|정비일|정비일자|구매일|구매일자|"
    "service date|visit date|purchase date|order date",
    "service_time": "服務時間|服务时间|來店時間|来店时间|到店時間|到店时间|維修時間|维修时间|서비스시간|"
    "방문시간|service time|visit time",
    "service_type": "服務項目|服务项目|維修項目|维修项目|保養項目|保养项目|服務內容|服务内容|服務類型|"
    "服务类型|服務類別|消費項目|消费项目|서비스항목|서비스 내용|서비스내용|정비내용|정비항목|"
    "service|service type|service item|service name",
    "vehicle": "車牌|车牌|車牌號碼|车牌号码|車牌號|车牌号|車號|车号|차량번호|차번호|plate|license plate|"
    "licence plate|plate number|vehicle|registration number",
    "mileage": "里程|里程數|里程数|公里數|公里数|行駛里程|行驶里程|進廠里程|주행거리|mileage|odometer",
    "store": "門市|门市|門店|门店|服務據點|服务网点|服務據點名稱|店鋪|店铺|分店|據點|据点|經銷商|经销商|"
    "매장|지점|대리점|store|branch|dealer|outlet",
    "given_name": "名|first name|given name|forename",
    "family_name": "姓|성|last name|family name|surname",
}
_GENERIC: dict[str, str] = {
    "customer_id": "id",
    "service_date": "date|日期|날짜|일자",
    "service_time": "time|時間|时间|시간",
    "service_type": "item|項目|项目|항목",
    "country": "region",
    "mileage": "km|公里",
    "store": "shop|location",
    "email": "mail",
}
# Phone columns: mobile-ish ones are tried first, whatever their position in the file.
_MOBILE = (
    "手機|手机|行動電話|行动电话|移動電話|移动电话|手機號碼|手机号码|手機號|手机号|行動電話號碼|手提電話|"
    "手提电话|휴대폰|핸드폰|휴대전화|휴대폰번호|핸드폰번호|휴대전화번호|휴대번호|mobile|cell|cellphone|"
    "cell phone|mobile phone|mobile number|mobile no|cell number|handphone"
)
_LANDLINE = (
    "電話|电话|聯絡電話|联系电话|联络电话|聯繫電話|住家電話|住宅電話|家用電話|家庭電話|家庭电话|"
    "公司電話|公司电话|市話|市话|座機|座机|電話號碼|电话号码|室內電話|전화|전화번호|연락처|집전화|"
    "회사전화|유선전화|phone|tel|telephone|phone number|phone no|home phone|work phone|"
    "office phone|landline|contact number|contact phone"
)
_MOBILE_WORDS = (
    "手機",
    "手机",
    "行動",
    "行动",
    "移动",
    "移動",
    "手提",
    "휴대",
    "핸드폰",
    "mobile",
    "cell",
)
_NON_WORD = re.compile(r"[\W_]+")
_BRACKETED = re.compile(r"\(.*?\)|\[.*?\]|【.*?】|「.*?」|<.*?>|《.*?》")
_PHONE_MOBILE, _PHONE_OTHER = "phone:mobile", "phone:other"


def _norm(text: str) -> str:
    """The comparison key of a header: NFKC, case-folded, no spaces or punctuation."""
    return _NON_WORD.sub("", unicodedata.normalize("NFKC", text).casefold())


def _alias_index() -> dict[str, tuple[str, int]]:
    index: dict[str, tuple[str, int]] = {}
    for priority, table in ((1, _GENERIC), (0, _ALIASES)):
        for field, aliases in table.items():
            for alias in aliases.split("|"):
                index[_norm(alias)] = (field, priority)
    for kind, aliases in ((_PHONE_OTHER, _LANDLINE), (_PHONE_MOBILE, _MOBILE)):
        for alias in aliases.split("|"):
            index[_norm(alias)] = (kind, 0)
    return index


_ALIAS_INDEX = _alias_index()


@lru_cache(maxsize=4096)
def header_field(header: str) -> tuple[str, int] | None:
    """(field, priority) a header means by alias, or None; phones as "phone:mobile"/"phone:other".

    Also tried: the header without bracketed notes ("手機(必填)"), and, for phones only,
    without a trailing number ("電話2", "phone 1").
    """
    key = _norm(header)
    if not key:
        return None
    hit = _ALIAS_INDEX.get(key)
    if hit is None:
        bare = _norm(_BRACKETED.sub("", unicodedata.normalize("NFKC", header)))
        hit = _ALIAS_INDEX.get(bare) if bare else None
        if hit is None:
            stem = (bare or key).rstrip("0123456789")
            hit = _ALIAS_INDEX.get(stem) if stem else None
            if hit is not None and not hit[0].startswith("phone"):
                hit = None
    return hit


def _is_mobile_header(header: str) -> bool:
    key = _norm(header)
    return any(word in key for word in _MOBILE_WORDS)


def alias_hits(cells: Iterable[str]) -> int:
    """How many cells of a row are known headers: how header-like the row is."""
    return sum(1 for cell in cells if header_field(cell) is not None)


# ------------------------------------------------------------------------------- column map


@dataclass(frozen=True)
class ColumnMap:
    """Which column holds which field; computed once per file, used for every row."""

    fields: dict[str, int]  # single-valued canonical field -> column index
    phone_columns: list[tuple[int, str]]  # (index, header) of phone columns, mobile-ish first
    headers: list[str]
    ignored: list[str]  # headers mapped to nothing: reported to the user, not an error


def build_column_map(headers: list[str], overrides: dict[str, str] | None = None) -> ColumnMap:
    """Map headers to fields by alias, after `--map column=field` overrides.

    An override names a header exactly; its field is one of FIELDS ("phone" adds a phone
    column) or "ignore". Raises UsageError for a bad override and MissingColumnsError when
    a REQUIRED field has no column.
    """
    headers = [clean_header(h) for h in headers]
    assigned = _apply_overrides(headers, overrides or {})
    forced = {f for f in assigned.values() if f not in ("phone", IGNORE)}
    candidates: dict[str, list[tuple[int, int]]] = {}
    phones: list[tuple[int, int, str]] = []
    for index, header in enumerate(headers):
        target = assigned.get(index)
        if target == "phone":
            phones.append((0 if _is_mobile_header(header) else 1, index, header))
            continue
        if target is not None:
            continue
        hit = header_field(header)
        if hit is None:
            continue
        field, priority = hit
        if field in (_PHONE_MOBILE, _PHONE_OTHER):
            phones.append((0 if field == _PHONE_MOBILE else 1, index, header))
        elif field not in forced:
            candidates.setdefault(field, []).append((priority, index))
    fields = {field: min(found)[1] for field, found in candidates.items()}
    fields.update({f: i for i, f in assigned.items() if f not in ("phone", IGNORE)})
    if "name" in fields:  # a full-name column beats name parts
        fields.pop("given_name", None)
        fields.pop("family_name", None)
    phones.sort()
    used = set(fields.values()) | {index for _, index, _ in phones}
    ignored = [h for i, h in enumerate(headers) if h and i not in used]
    has_name = "name" in fields or "given_name" in fields or "family_name" in fields
    missing = [
        f
        for f in REQUIRED
        if not (has_name if f == "name" else phones if f == "phone" else f in fields)
    ]
    if missing:
        # A file without a header row offers its first customer's cells as headers: never echo
        # their number in the error (nor in the runner's log that repeats it).
        raise MissingColumnsError(missing, [mask_numbers_in(h) for h in headers if h])
    return ColumnMap(
        fields=dict(sorted(fields.items(), key=lambda item: item[1])),
        phone_columns=[(index, header) for _, index, header in phones],
        headers=headers,
        ignored=ignored,
    )


def clean_header(header: str) -> str:
    """A header cell without a stray BOM or padding."""
    return header.replace("\ufeff", "").strip()


def _apply_overrides(headers: list[str], overrides: dict[str, str]) -> dict[int, str]:
    """Column index -> field (or "phone"/"ignore") as the user said with --map."""
    allowed = (*FIELDS, IGNORE)
    assigned: dict[int, str] = {}
    for column, wanted in overrides.items():
        field = re.sub(r"[\s-]+", "_", wanted.strip().lower())
        if field not in allowed:
            raise UsageError(
                f"--map {column}={wanted}: unknown field '{wanted}'; fields are: "
                + ", ".join(allowed)
            )
        indexes = [i for i, h in enumerate(headers) if h == column.strip()]
        if not indexes:
            listed = ", ".join(repr(h) for h in headers if h) or "none"
            raise UsageError(
                f"--map {column}={wanted}: the file has no column '{column}'; headers are: {listed}"
            )
        if len(indexes) > 1 and field not in ("phone", IGNORE):
            raise UsageError(
                f"--map {column}={wanted}: the file has {len(indexes)} columns named '{column}'"
            )
        for index in indexes:
            assigned[index] = field
    taken = Counter(f for f in assigned.values() if f not in ("phone", IGNORE))
    for field, count in taken.items():
        if count > 1:
            raise UsageError(f"--map gives the field {field} to {count} columns; give it to one")
    return assigned
