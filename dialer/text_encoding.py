"""Which text encoding a customer file is in: UTF-8 (± BOM), UTF-16, Big5, GBK or EUC-KR.

Exports from Taiwanese, Chinese and Korean shop systems are often in the legacy encoding of
the PC that made them, and Big5, GBK and EUC-KR share byte ranges: a sample can decode under
all three. Which decoding makes sense is judged by the header (does it name known columns?)
and then by how common the decoded characters are. Used by `dialer.customer_file`.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from functools import lru_cache
from itertools import islice

from dialer.column_map import alias_hits
from dialer.errors import InputFileError

__all__ = ["DELIMITERS", "HEADER_SCAN_ROWS", "complete_lines", "decode", "detect_encoding"]

HEADER_SCAN_ROWS = 10  # a header may sit below a title row or two; look this far for it
DELIMITERS = ",;\t|"

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


def decode(data: bytes, encoding: str, complete: bool) -> str | None:
    """Strict decoding; a multibyte character cut by the sample's end is fine when incomplete."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        return str(decoder.decode(data, final=complete))
    except UnicodeDecodeError:
        return None


def _header_score(text: str) -> int:
    """Most header aliases any of the first rows maps, under the best delimiter."""
    head = complete_lines(text[:16384])
    best = 0
    for delimiter in DELIMITERS:
        reader = csv.reader(io.StringIO(head, newline=""), delimiter=delimiter)
        for cells in islice(reader, HEADER_SCAN_ROWS):
            best = max(best, alias_hits(cells))
    return best


def complete_lines(text: str) -> str:
    """The text up to its last line break: a sample cut mid-line loses the partial line."""
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
            if decode(sample, name, complete) is None:
                raise InputFileError(
                    f"the file starts with a {name} byte-order mark but is not valid {name}"
                )
            return name
    if b"\x00" in sample:
        return _utf16_without_bom(sample, complete)
    if decode(sample, "utf-8", complete) is not None:
        return "utf-8"
    ranked = []
    for encoding in _CJK_CANDIDATES:
        text = decode(sample, encoding, complete)
        if text is not None:
            score, count = _plausibility(text, encoding)
            ranked.append((_header_score(text), score, count, encoding))
    ranked.sort(key=lambda r: (r[0], r[1]), reverse=True)
    if ranked and (ranked[0][0] > 0 or ranked[0][1] >= ranked[0][2] // 2):
        return ranked[0][3]
    western = decode(sample, "cp1252", complete)
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
        if zeros > len(head) // 8 and other * 4 < zeros and decode(sample, name, complete):
            return name
    raise InputFileError(
        "the file contains NUL bytes, so it is not a text (CSV) file; "
        "save it as CSV or .xlsx, or name its encoding with --encoding"
    )
