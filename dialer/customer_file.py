"""Reading customer files: CSV/TSV/XLSX exports in Chinese, Korean and English, as a row stream.

`CustomerFile` works out the format, the text encoding and the delimiter, maps the header row
to canonical fields (`build_column_map`) and then streams `SourceRow`s: cells as stripped text,
keyed by field, with the original cells kept for the rejects file. Nothing here judges a value
(phones, dates and flags are parsed by `dialer.phones` and `dialer.values`): a file is either
unreadable as a whole (`InputFileError`, raised on opening) or it yields rows.

CSV files are streamed, never loaded: memory stays flat however long the file is. Workbooks
are read with python-calamine (openpyxl read-only as fallback).
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import re
import unicodedata
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Self

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException
from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

from dialer.errors import InputFileError, MissingColumnsError, UsageError

__all__ = [
    "FIELDS",
    "FORMATS",
    "REQUIRED",
    "ColumnMap",
    "CustomerFile",
    "SourceRow",
    "build_column_map",
    "cell_text",
    "detect_encoding",
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
FORMATS = ("csv", "tsv", "xlsx")
IGNORE = "ignore"

SAMPLE_BYTES = 1 << 20  # encoding/delimiter detection; a file this small is also fully checked
HEADER_SCAN_ROWS = 10  # a header may sit below a title row or two; look this far for it
_DELIMITERS = ",;\t|"

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


def _alias_hits(cells: Iterable[str]) -> int:
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
    headers = [_clean_header(h) for h in headers]
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
        raise MissingColumnsError(missing, [h for h in headers if h])
    return ColumnMap(
        fields=dict(sorted(fields.items(), key=lambda item: item[1])),
        phone_columns=[(index, header) for _, index, header in phones],
        headers=headers,
        ignored=ignored,
    )


def _clean_header(header: str) -> str:
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


# -------------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One data row as found: text only, nothing parsed or judged yet."""

    number: int  # row number a person sees (spreadsheet view: header row 1, first data row 2)
    values: dict[str, str]  # field -> stripped cell text; empty cells are left out
    phones: list[tuple[str, str]]  # (header, cell) of non-empty phone cells, mobile-ish first
    cells: list[str] = dataclasses.field(repr=False)  # the cells as in the file
    labels: Sequence[str] = dataclasses.field(repr=False)  # unique header labels, one per column
    extra_cells: int = 0  # non-empty cells beyond the header's width (a misaligned row)
    extra: dict[str, str] | None = dataclasses.field(default=None, repr=False)  # those, labelled

    @property
    def raw(self) -> dict[str, str]:
        """Header -> cell as in the file, for the rejects file.

        Built on demand: only rejected rows need it, and a dict per row is a tenth of the
        reading cost of a million-row file.
        """
        raw = dict(zip(self.labels, self.cells, strict=False))
        if self.extra:
            raw.update(self.extra)
        return raw


RowBuilder = Callable[[int, list[str]], SourceRow | None]


def _raw_keys(headers: list[str]) -> list[str]:
    """Unique labels for the raw dict: duplicate headers get " (2)", unnamed ones "column N"."""
    seen: Counter[str] = Counter()
    keys = []
    for index, header in enumerate(headers):
        label = header or f"column {index + 1}"
        seen[label] += 1
        keys.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return keys


def _row_builder(column_map: ColumnMap) -> RowBuilder:
    """A closure turning a list of cells into a SourceRow; per-row work kept to the minimum."""
    keys = tuple(_raw_keys(column_map.headers))
    width = len(keys)
    items = tuple(
        (f, i) for f, i in column_map.fields.items() if f not in ("given_name", "family_name")
    )
    phone_items = tuple((i, h) for i, h in column_map.phone_columns)
    given = column_map.fields.get("given_name")
    family = column_map.fields.get("family_name")
    compose = given is not None or family is not None
    padding = [""] * width

    def build(number: int, cells: list[str]) -> SourceRow | None:
        extra = 0
        raw_extra: dict[str, str] | None = None
        if len(cells) != width:
            if len(cells) < width:
                cells = cells + padding[len(cells) :]
            else:
                raw_extra = {
                    f"column {width + k + 1}": cell
                    for k, cell in enumerate(cells[width:])
                    if cell.strip()
                }
                extra = len(raw_extra)
        values = {f: v for f, i in items if (v := cells[i].strip())}
        phones = [(h, v) for i, h in phone_items if (v := cells[i].strip())]
        if compose:
            name = _compose_name(
                cells[given].strip() if given is not None else "",
                cells[family].strip() if family is not None else "",
            )
            if name:
                values["name"] = name
        if not values and not phones and not extra and not any(c.strip() for c in cells):
            return None
        return SourceRow(number, values, phones, cells, keys, extra, raw_extra)

    return build


def _compose_name(given: str, family: str) -> str:
    """Family name first and unspaced for CJK names (王 + 小明), "Given Family" otherwise."""
    if not given or not family:
        return given or family
    if any(ord(ch) >= 0x2E80 for ch in family + given):
        return family + given
    return f"{given} {family}"


# ------------------------------------------------------------------------------- encodings
# Most common characters; a decoding that produces many of them is the plausible one.
_COMMON_ZH = frozenset(
    # Simplified
    "的一是不了在人有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之年过发"
    "后作里用道行所然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心她本前开"
    "但因只从想实日军者意无力它与长把机十民第公此已工使情明性知全三又关点正业外将两高间由问很最重并"
    "物手应战向头文体政美相见被利什二等产或新己制身果加西斯月话合回特代内信表化老给世位次度门任常先"
    "海通教儿原东声提立及比员解水名真论处走义各入几口认条平系气题活尔更别打女变四神总何电数安少报才"
    "结反受目太量再感建务做接必场件计管期市直德资命山金指克许统区保至队形社便空决治展马科司五基眼书"
    "非则听白却界达光放强即像难且权思王象完设式色路记南品住告类求据程北边死张该交规万取拉格望觉术领"
    "共确传师观清今切院让识候带导争运笑飞风步改收根干造言联持组每济车亲极林服快办议往元英士证近失转"
    "夫令准布始怎呢存未远叫台单影具罗字爱击流备兵连调深商算质团集百需价花党华城石级整府离况亚请技际"
    "约示复病息究线似官火断精满支视消越器容照须九增研写称企八功吗包片史委乎查轻易早曾除农找装广显吧"
    "客户姓名手机电话会员服务日期时间项目车牌里程门店保养维修满意联系邮箱营销同意语言时区号码编号先"
    "生小姐女士李张刘陈杨黄赵吴周徐孙朱胡郭何罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏"
    "吕丁任沈姚卢姜崔钟谭陆汪范石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵钱严覃武"
    "戴莫孔汤伟芳娜敏静丽强磊军洋勇艳杰娟涛超秀霞刚桂玉萍红玲芬燕辉鹏斌宇浩凯健俊帆旭宁欣怡婷雪梅"
    "琳晶颖倩佳慧嘉北京上海广州深圳杭州南京成都武汉路号店换油胎检查轮刹洗"
    # Traditional
    "這個們來為國說時會對過發後裡種經麼學現當沒動還進樣實軍無與長機從關點業將兩間問應戰頭體見產"
    "當話給內與還學點開聲員數報結區隊書聽卻權設據邊張該規萬覺術領傳師觀讓識帶導爭運飛風轉準單遠"
    "羅愛擊備連調質團價黨華級離況亞請際約復線斷滿視須寫稱嗎廣顯圖號醫專費盡較語選紅響雖勢參眾"
    "節維劃敵陳態護興孩驗責營夠嚴項續講終緊黃絕織紀採舉殺蘇細願錢網熱屬臉職樂剛狀獨彈創錯藥險"
    "客戶姓名手機電話會員服務日期時間項目車牌里程門市保養維修滿意聯絡郵件行銷同意語言時區號碼編號"
    "稱謂據點先生小姐女士陳林黃張李王吳劉蔡楊許鄭謝郭洪曾邱廖賴周徐蘇葉莊呂江何蕭羅高潘簡朱鍾游彭"
    "詹胡施沈余盧梁趙顏柯翁魏孫戴范方宋鄧杜傅侯曹薛丁卓阮馬董唐藍蔣石古紀姚連馮歐程湯黎田康姜汪白"
    "鄒尤巫涂龔嚴韓袁金童陸夏柳邵錢伍倪溫于譚駱熊任甘秦顧毛章史官萬俞雷饒志明俊傑淑芬美玲雅婷怡君"
    "家豪冠宇承翰宜蓁欣怡佳穎婉建宏文雄秀英麗華惠貞宗柏彥廷詩涵思妤品妍軒子台北臺中南高雄桃園新竹"
    "路段號樓店換機油輪胎檢查煞車洗定期"
)
_COMMON_KO = frozenset(
    "이다는의에고하가을를지기사서로한자대리나수도시어정일아구전주보우스인국해여게있동적상부라성만장경"
    "제원들것소진요문비내연화마조미위신공오회개무결안방생관실선명물세행용분학발통면및과후단당중날말거"
    "간금호계재작입차모표번업민현식반강불양본저노득점각체최건두영역바감심음러함란람르레네니디드트토"
    "티테크키카코쿠파포피프페허히효휴흥김박윤임권황송류홍손배백유남곽채천추석설길왕옥육탁엄변염은편"
    "준예희철혜순숙태훈빈환규찬혁웅범섭욱완근택필린슬솔별님께씨고객번호이름성명휴대폰핸드폰전화연락처"
    "회원여부마케팅수신동의국가언어방해금지메일서비스일자날짜방문항목내용차량주행거리매장지점감사합니"
    "습했었았였겠죠던든된될됩됐녕세예약점검수리교체오일타이어엔진브레이크비완료만족불보통확인의요청처"
    "울산광대경기남북구군읍면동아파트층호"
)
_LEVEL1_RANGE = {  # the frequent-character block of each legacy encoding
    "cp950": ("big5", 0xA440, 0xC67E),
    "gb18030": ("gb2312", 0xB0A1, 0xD7F9),
    "cp949": ("euc_kr", 0xB0A1, 0xC8FE),
}
_CJK_CANDIDATES = ("cp950", "gb18030", "cp949")
_ODD_BLOCKS = (  # characters a mis-decoding produces and real customer data almost never has
    (0x0370, 0x052F),  # Greek, Cyrillic
    (0x2460, 0x24FF),  # circled numbers
    (0x2500, 0x259F),  # box drawing, blocks
    (0x3040, 0x30FF),  # kana
    (0x3100, 0x312F),  # bopomofo
    (0x3130, 0x318F),  # Hangul compatibility jamo
    (0x3200, 0x33FF),  # enclosed CJK, CJK compatibility
    (0x3400, 0x4DBF),  # CJK extension A
    (0xE000, 0xF8FF),  # private use
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF61, 0xFF9F),  # half-width katakana
)


@lru_cache(maxsize=65536)
def _char_score(ch: str, encoding: str) -> int:
    """How plausible one decoded non-ASCII character is under a candidate encoding."""
    code = ord(ch)
    if any(lo <= code <= hi for lo, hi in _ODD_BLOCKS):
        return -3
    category = unicodedata.category(ch)
    if category in ("Co", "Cn", "Cc", "Cs"):
        return -5
    hangul = 0xAC00 <= code <= 0xD7A3
    han = 0x4E00 <= code <= 0x9FFF
    if encoding == "cp949":
        if han:
            return -1  # hanja: rare in Korean customer data
        if hangul:
            return 3 if ch in _COMMON_KO else _level1(ch, encoding)
    elif han:
        return 3 if ch in _COMMON_ZH else _level1(ch, encoding)
    elif hangul:
        return -3
    if category.startswith("L"):
        return -1  # stray Latin-1 letters and the like
    return 0  # punctuation and symbols


def _level1(ch: str, encoding: str) -> int:
    codec, lo, hi = _LEVEL1_RANGE[encoding]
    try:
        encoded = ch.encode(codec)
    except UnicodeEncodeError:
        return 0
    return 1 if len(encoded) == 2 and lo <= int.from_bytes(encoded, "big") <= hi else 0


def _decode(data: bytes, encoding: str, complete: bool) -> str | None:
    """Strict decoding; a multibyte character cut by the sample's end is fine when incomplete."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        return str(decoder.decode(data, final=complete))
    except UnicodeDecodeError:
        return None


def _header_score(text: str) -> int:
    """Most header aliases any of the first rows maps, under the best delimiter."""
    head = _complete_lines(text[:16384])
    best = 0
    for delimiter in _DELIMITERS:
        reader = csv.reader(io.StringIO(head, newline=""), delimiter=delimiter)
        for cells in islice(reader, HEADER_SCAN_ROWS):
            best = max(best, _alias_hits(cells))
    return best


def _complete_lines(text: str) -> str:
    cut = max(text.rfind("\n"), text.rfind("\r"))
    return text[: cut + 1] if cut >= 0 else text


def _plausibility(text: str, encoding: str) -> tuple[int, int]:
    """(score, number of non-ASCII characters) of a decoded sample."""
    score = count = 0
    for ch in text[:65536]:
        if ch >= "\x80":
            count += 1
            score += _char_score(ch, encoding)
    return score, count


_CP1252_OK = re.compile(r"[\x00-\x7f\u00a0-\u00ff‘’“”–—…€•™]*")


def detect_encoding(sample: bytes, complete: bool) -> str:
    """The encoding of a CSV sample: BOMs, then UTF-8, then the likeliest CJK legacy encoding.

    Big5/CP950, GBK/GB18030 and EUC-KR/CP949 share byte ranges, so a sample often decodes
    under several of them; the header row is the best witness (the decoding whose header maps
    the most known aliases wins), then how common the decoded characters are. Windows-1252 is
    the last resort for Western exports. Raises InputFileError when nothing fits.
    """
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if sample.startswith(bom):
            if _decode(sample, name, complete) is None:
                raise InputFileError(
                    f"the file starts with a {name} byte-order mark but is not valid {name}"
                )
            return name
    if b"\x00" in sample:
        return _utf16_without_bom(sample, complete)
    if _decode(sample, "utf-8", complete) is not None:
        return "utf-8"
    ranked = []
    for encoding in _CJK_CANDIDATES:
        text = _decode(sample, encoding, complete)
        if text is not None:
            score, count = _plausibility(text, encoding)
            ranked.append((_header_score(text), score, count, encoding))
    ranked.sort(key=lambda r: (r[0], r[1]), reverse=True)
    if ranked and (ranked[0][0] > 0 or ranked[0][1] >= ranked[0][2] // 2):
        return ranked[0][3]
    western = _decode(sample, "cp1252", complete)
    if western is not None and _CP1252_OK.fullmatch(western):
        return "cp1252"
    if ranked:
        return ranked[0][3]
    raise InputFileError(
        "cannot tell the text encoding of the file (it is not UTF-8, Big5, GBK or EUC-KR); "
        "re-save it as UTF-8 or name the encoding with --encoding"
    )


def _utf16_without_bom(sample: bytes, complete: bool) -> str:
    head = sample[:4096]
    even = head[0::2].count(0)
    odd = head[1::2].count(0)
    for name, zeros, other in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        if zeros > len(head) // 8 and other * 4 < zeros and _decode(sample, name, complete):
            return name
    raise InputFileError(
        "the file contains NUL bytes, so it is not a text (CSV) file; "
        "save it as CSV or .xlsx, or name its encoding with --encoding"
    )


# ------------------------------------------------------------------------------ cell values


def cell_text(value: Any) -> str:
    """An Excel cell as the text a person sees: 912345678.0 -> "912345678", dates as ISO."""
    if value is None:
        return ""
    kind = type(value)
    if kind is str:
        return str(value)
    if kind is float:
        return str(int(value)) if value.is_integer() else format(value, ".15g")
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if isinstance(value, datetime):
        if value.time() == time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return str(value)


# ------------------------------------------------------------------------------- the file

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = b"PK\x03\x04"
_FORMAT_NAMES = {
    "csv": "csv",
    "txt": "csv",
    "tsv": "tsv",
    "tab": "tsv",
    "xlsx": "xlsx",
    "xlsm": "xlsx",
}


class CustomerFile:
    """An open customer file: format, encoding and column map known, rows ready to stream.

    Use as a context manager. Everything that can make the whole file unusable is checked in
    the constructor (InputFileError, MissingColumnsError, UsageError), so an importer can fail
    before writing anything. `rows()` may be called more than once; each call reads anew.
    """

    format: str  # "csv" | "tsv" | "xlsx"
    encoding: str | None  # text encoding used (detected or forced); None for workbooks
    delimiter: str | None  # CSV/TSV only
    sheet_name: str | None  # workbooks only
    header_row: int  # row number of the header (1 unless title rows sit above it)
    column_map: ColumnMap
    size_bytes: int

    def __init__(
        self,
        path: Path | str,
        *,
        encoding: str | None = None,
        file_format: str | None = None,
        overrides: dict[str, str] | None = None,
        sheet: str | None = None,
        xlsx_engine: Literal["calamine", "openpyxl"] | None = None,
    ) -> None:
        self.path = Path(path)
        self.encoding = None
        self.delimiter = None
        self.sheet_name = None
        self._skip_first_line = False
        self._binary: IO[bytes] | None = None
        self._rows_done = 0
        self._rows_total = 0
        self._finished = False
        self._closed = False
        self._workbook: Any = None
        self._sheet: Any = None
        self._engine: str | None = None
        self._row_offset = 0
        self._live: list[Iterator[SourceRow]] = []
        head = self._check_path()
        self.format = self._decide_format(file_format, head)
        if self.format == "xlsx":
            first_rows = self._open_workbook(sheet, xlsx_engine)
        else:
            first_rows = self._open_text(encoding)
        try:
            self.header_row, headers = _find_header(first_rows, overrides or {}, self.path)
            self.column_map = build_column_map(headers, overrides)
        except BaseException:
            self.close()
            raise
        self._build = _row_builder(self.column_map)

    # -- context management -------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the file and any workbook; unfinished row iterators are stopped."""
        for live in self._live:
            close = getattr(live, "close", None)
            if close is not None:
                close()
        self._live.clear()
        if self._workbook is not None:
            self._workbook.close()
            self._workbook = None
            self._sheet = None
        self._closed = True

    # -- progress -------------------------------------------------------------------------

    @property
    def bytes_read(self) -> int:
        """How far the last rows() has got, in bytes of the file (estimated for workbooks)."""
        if self._finished:
            return self.size_bytes
        if self.format == "xlsx":
            if not self._rows_total:
                return 0
            return min(self.size_bytes, self.size_bytes * self._rows_done // self._rows_total)
        binary = self._binary
        if binary is None or binary.closed:
            return 0
        return min(self.size_bytes, binary.tell())

    @property
    def rows_total(self) -> int | None:
        """Number of rows in the sheet (workbooks only; a CSV is not counted in advance)."""
        return self._rows_total or None if self.format == "xlsx" else None

    # -- rows -------------------------------------------------------------------------------

    def rows(self) -> Iterator[SourceRow]:
        """Data rows after the header, blank rows skipped, numbers true to the file."""
        if self._closed:
            raise ValueError("the customer file is closed")
        iterator = self._workbook_rows() if self.format == "xlsx" else self._text_rows()
        self._live.append(iterator)
        return iterator

    def _text_rows(self) -> Iterator[SourceRow]:
        assert self.encoding is not None and self.delimiter is not None
        build = self._build
        self._finished = False
        number = self.header_row
        with self.path.open("rb") as binary:
            self._binary = binary
            text = io.TextIOWrapper(binary, encoding=self.encoding, errors="strict", newline="")
            reader = csv.reader(text, delimiter=self.delimiter)
            try:
                if self._skip_first_line:
                    next(reader, None)
                for _ in islice(reader, self.header_row):
                    pass
                for cells in reader:
                    number += 1
                    if cells:
                        row = build(number, cells)
                        if row is not None:
                            yield row
            except UnicodeDecodeError:
                raise InputFileError(
                    f"{self.path.name}: the text near byte {binary.tell()} (around row "
                    f"{number + 1}) is not valid {self.encoding}; the file mixes encodings: "
                    "re-save it as UTF-8 or name the encoding with --encoding"
                ) from None
            except csv.Error as err:
                raise InputFileError(
                    f"{self.path.name}: row {number + 1} cannot be read as CSV ({err}); "
                    "look for an unbalanced quote or binary data there"
                ) from None
        self._finished = True

    def _workbook_rows(self) -> Iterator[SourceRow]:
        build = self._build
        self._finished = False
        number = self._row_offset
        convert = cell_text
        for cells in self._iter_sheet():
            number += 1
            self._rows_done = number
            if number <= self.header_row:
                continue
            row = build(number, [c if type(c) is str else convert(c) for c in cells])
            if row is not None:
                yield row
        self._finished = True

    # -- opening ------------------------------------------------------------------------------

    def _check_path(self) -> bytes:
        """The first bytes of the file; every reason it cannot be read becomes InputFileError."""
        path = self.path
        if not path.exists():
            raise InputFileError(f"{path}: no such file")
        if path.is_dir():
            raise InputFileError(f"{path} is a directory, not a customer file")
        try:
            self.size_bytes = path.stat().st_size
            with path.open("rb") as fh:
                head = fh.read(8)
        except OSError as err:
            raise InputFileError(f"{path} cannot be read: {err.strerror or err}") from None
        if self.size_bytes == 0:
            raise InputFileError(f"{path} is empty")
        return head

    def _decide_format(self, file_format: str | None, head: bytes) -> str:
        suffix = self.path.suffix.lower().lstrip(".")
        if file_format is not None:
            chosen = _FORMAT_NAMES.get(file_format.strip().lower().lstrip("."))
            if chosen is None:
                raise UsageError(f"unknown file format '{file_format}'; use one of: csv, tsv, xlsx")
            if chosen == "xlsx" and head.startswith(_OLE2):
                raise _old_excel(self.path)
            return chosen
        if head.startswith(_OLE2) or suffix == "xls":
            raise _old_excel(self.path)
        if suffix in ("ods", "xlsb", "numbers"):
            raise InputFileError(
                f"{self.path.name}: .{suffix} files are not supported; save it as .xlsx or CSV"
            )
        if head.startswith(_ZIP):
            return "xlsx"
        if suffix in ("xlsx", "xlsm"):
            raise InputFileError(
                f"{self.path.name} is not a valid Excel workbook (not a zip file); "
                "if it is really a CSV file, rename it or pass --format csv"
            )
        return "tsv" if suffix in ("tsv", "tab") else "csv"

    def _open_text(self, forced: str | None) -> list[tuple[int, list[str]]]:
        with self.path.open("rb") as fh:
            sample = fh.read(SAMPLE_BYTES)
        complete = len(sample) == self.size_bytes
        if forced is not None:
            self.encoding = _forced_encoding(forced, sample)
            if _decode(sample, self.encoding, complete) is None:
                raise InputFileError(
                    f"{self.path.name} is not valid {forced} text; check the --encoding value"
                )
        else:
            try:
                self.encoding = detect_encoding(sample, complete)
            except InputFileError as err:
                raise InputFileError(f"{self.path.name}: {err}") from None
        text = _decode(sample, self.encoding, complete) or ""
        if not complete:
            text = _complete_lines(text)
        if m := re.match(r"\ufeff?sep=(.)\r?\n", text):  # Excel's "sep=;" hint line
            self.delimiter = m[1]
            self._skip_first_line = True
            text = text[m.end() :]
        elif self.format == "tsv":
            self.delimiter = "\t"
        else:
            self.delimiter = _sniff_delimiter(text)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter)
        try:
            first = list(enumerate(islice(reader, HEADER_SCAN_ROWS * 50), start=1))
            if complete:  # a small file is checked whole now, so rows() cannot fail later
                for _ in reader:
                    pass
        except csv.Error as err:
            raise InputFileError(
                f"{self.path.name} cannot be read as CSV ({err}); it may not be a text file"
            ) from None
        return first

    def _open_workbook(
        self, sheet: str | None, engine: Literal["calamine", "openpyxl"] | None
    ) -> list[tuple[int, list[str]]]:
        calamine_error: Exception | None = None
        if engine in (None, "calamine"):
            try:
                self._open_calamine(sheet)
            except CalamineError as err:
                if engine == "calamine" or "password" in str(err).lower():
                    raise _bad_workbook(self.path, err) from None
                calamine_error = err
        if self._workbook is None:
            try:
                self._open_openpyxl(sheet)
            except (zipfile.BadZipFile, KeyError, ValueError, OSError, InvalidFileException) as err:
                raise _bad_workbook(self.path, calamine_error or err) from None
        first: list[tuple[int, list[str]]] = []
        number = self._row_offset
        for cells in self._iter_sheet():
            number += 1
            texts = [cell_text(c) for c in cells]
            first.append((number, texts))
            if sum(1 for _, t in first if any(c.strip() for c in t)) >= HEADER_SCAN_ROWS:
                break
            if number > HEADER_SCAN_ROWS * 50:
                break
        return first

    def _open_calamine(self, sheet: str | None) -> None:
        workbook = (
            CalamineWorkbook.from_path(str(self.path))
            if self.path.suffix.lower()
            in (
                ".xlsx",
                ".xlsm",
            )
            else CalamineWorkbook.from_filelike(io.BytesIO(self.path.read_bytes()))
        )
        try:
            name = _pick_sheet(
                workbook.sheet_names,
                [
                    m.name
                    for m in workbook.sheets_metadata
                    if m.visible == SheetVisibleEnum.Visible and m.typ == SheetTypeEnum.WorkSheet
                ],
                sheet,
            )
            data = workbook.get_sheet_by_name(name)
        except BaseException:
            workbook.close()
            raise
        self._workbook, self._sheet, self._engine, self.sheet_name = (
            workbook,
            data,
            "calamine",
            name,
        )
        end = data.end
        self._rows_total = end[0] + 1 if end else 0
        start = data.start
        if start and start[0] > 0:
            # Some calamine versions start iter_rows() at the first non-empty row; then row
            # numbers must be offset to stay true to the sheet. Its first row is never blank.
            first = next(iter(data.iter_rows()), None)
            if first is not None and any(c != "" for c in first):
                self._row_offset = start[0]

    def _open_openpyxl(self, sheet: str | None) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        try:
            name = _pick_sheet(
                workbook.sheetnames,
                [ws.title for ws in workbook.worksheets if ws.sheet_state == "visible"],
                sheet,
            )
        except BaseException:
            workbook.close()
            raise
        data = workbook[name]
        self._workbook, self._sheet, self._engine, self.sheet_name = (
            workbook,
            data,
            "openpyxl",
            name,
        )
        self._rows_total = data.max_row or 0

    def _iter_sheet(self) -> Iterator[Iterable[Any]]:
        if self._sheet is None:
            raise ValueError("the customer file is closed")
        if self._engine == "calamine":
            return iter(self._sheet.iter_rows())
        return iter(self._sheet.iter_rows(values_only=True))


def _old_excel(path: Path) -> InputFileError:
    return InputFileError(
        f"{path.name} is in the old .xls format (or a password-protected workbook): "
        "save it as .xlsx or CSV"
    )


def _bad_workbook(path: Path, err: BaseException) -> InputFileError:
    if "password" in str(err).lower():
        return InputFileError(f"{path.name} is password-protected: save a copy without a password")
    return InputFileError(f"{path.name} cannot be read as an Excel workbook ({err})")


def _pick_sheet(names: list[str], visible: list[str], wanted: str | None) -> str:
    """The sheet asked for, else the first visible one."""
    if wanted is not None:
        if wanted in names:
            return wanted
        raise UsageError(
            f"the workbook has no sheet '{wanted}'; its sheets are: {', '.join(names)}"
        )
    if visible:
        return visible[0]
    if names:
        return names[0]
    raise InputFileError("the workbook has no sheets")


def _forced_encoding(name: str, sample: bytes) -> str:
    try:
        canonical = codecs.lookup(name).name
    except LookupError:
        raise UsageError(f"unknown encoding '{name}'; try utf-8, cp950, gb18030 or cp949") from None
    if canonical == "utf-8" and sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    return canonical


def _sniff_delimiter(text: str) -> str:
    """The delimiter under which the header maps most aliases, else csv.Sniffer's, else ","."""
    head = _complete_lines(text[:65536])
    scores = []
    for delimiter in _DELIMITERS:
        reader = csv.reader(io.StringIO(head, newline=""), delimiter=delimiter)
        scores.append(
            (max((_alias_hits(c) for c in islice(reader, HEADER_SCAN_ROWS)), default=0), delimiter)
        )
    scores.sort(reverse=True)
    if scores[0][0] > 0 and scores[0][0] > scores[1][0]:
        return scores[0][1]
    lines = "".join(io.StringIO(head, newline="").readlines()[:50])
    try:
        return csv.Sniffer().sniff(lines, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return ","


def _find_header(
    rows: list[tuple[int, list[str]]], overrides: dict[str, str], path: Path
) -> tuple[int, list[str]]:
    """The header row: among the first non-blank rows, the one naming the most known columns.

    Exports often put a title ("客戶回訪名單 2026-11") above the header; those rows are skipped.
    Without any recognisable row, the first non-blank row is the header (and the column map
    will report what is missing).
    """
    wanted = {c.strip() for c in overrides}
    candidates = [(n, cells) for n, cells in rows if any(c.strip() for c in cells)][
        :HEADER_SCAN_ROWS
    ]
    if not candidates:
        raise InputFileError(f"{path.name} has no header row (it holds only blank lines)")
    best_number, best_cells = candidates[0]
    best_score = 0
    for number, cells in candidates:
        score = _alias_hits(cells) + sum(1 for c in cells if c.strip() in wanted)
        if score > best_score:
            best_number, best_cells, best_score = number, cells, score
    return best_number, [_clean_header(c) for c in best_cells]
