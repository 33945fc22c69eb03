"""The few sentences every call script needs whatever the campaign: built-in, per language.

A campaign may word them itself (`opt_out`, `opted_out`, `no_input`, `when` in its script);
otherwise the call still offers the opt-out key, ends politely after silence and asks for a
time in the customer's own language.
"""

from __future__ import annotations

from typing import Literal

Phrase = Literal["opt_out", "opted_out", "no_input", "when", "sorry"]
OPT_OUT_KEY = "9"

_PHRASES: dict[Phrase, dict[str, str]] = {
    "opt_out": {
        "zh-TW": "若您不希望再接到我們的電話，請按9。",
        "zh-CN": "如果您不希望再接到我们的电话，请按9。",
        "zh-HK": "如果您唔想再收到我哋嘅電話，請按9。",
        "ko": "더 이상 전화를 받지 않으시려면 9번을 눌러 주십시오.",
        "ja": "今後お電話をご希望でない場合は9を押してください。",
        "en": "If you would rather not receive our calls, press 9.",
    },
    "opted_out": {
        "zh-TW": "好的，我們以後不會再打電話給您。謝謝您，再見！",
        "zh-CN": "好的，我们以后不会再给您打电话。谢谢您，再见！",
        "zh-HK": "好的，我哋以後唔會再打俾您。多謝您，再見！",
        "ko": "알겠습니다. 앞으로 전화드리지 않겠습니다. 감사합니다.",
        "ja": "承知しました。今後はお電話いたしません。ありがとうございました。",
        "en": "Understood, we will not call you again. Thank you, goodbye!",
    },
    "no_input": {
        "zh-TW": "抱歉，我們沒有收到您的回覆，會再另外與您聯繫。謝謝您，再見！",
        "zh-CN": "抱歉，我们没有收到您的回复，会再另外与您联系。谢谢您，再见！",
        "zh-HK": "唔好意思，我哋收唔到您嘅回覆，會再另外聯絡您。多謝，再見！",
        "ko": "죄송합니다. 응답을 받지 못했습니다. 다시 연락드리겠습니다. 감사합니다.",
        "ja": "お返事をいただけませんでしたので、改めてご連絡いたします。失礼いたします。",
        "en": "Sorry, we did not hear an answer. We will get in touch another time. Goodbye!",
    },
    "when": {
        "zh-TW": "請問幾點方便再打給您？請輸入24小時制的整點，例如下午三點請按1、5，再按井字鍵；"
        "直接按井字鍵，由我們安排合適的時間。",
        "zh-CN": "请问几点方便再给您打电话？请输入24小时制的整点，例如下午三点请按1、5，再按井号键；"
        "直接按井号键，由我们安排合适的时间。",
        "zh-HK": "請問幾點方便再打俾您？請輸入24小時制嘅整點，例如下午三點請按1、5，再按井字鍵；"
        "直接按井字鍵，由我哋安排。",
        "ko": "몇 시에 다시 전화드릴까요? 24시간제로 시각을 누르신 뒤 우물 정자를 눌러 주십시오. "
        "예를 들어 오후 3시는 1, 5입니다. 우물 정자만 누르시면 편하신 시간에 연락드리겠습니다.",
        "ja": "何時にお電話すればよろしいですか。24時間制で時刻を入力し、シャープを押してください。"
        "午後3時なら1、5です。シャープのみで、こちらで時間を決めます。",
        "en": "What time should we call you back? Enter the hour on a 24-hour clock, for example "
        "1 5 for 3 p.m., then the pound key; or just press pound and we will choose a good time.",
    },
    "sorry": {
        "zh-TW": "抱歉，我沒有聽清楚。",
        "zh-CN": "抱歉，我没有听清楚。",
        "zh-HK": "唔好意思，我聽唔清楚。",
        "ko": "죄송합니다. 잘 듣지 못했습니다.",
        "ja": "申し訳ありません、聞き取れませんでした。",
        "en": "Sorry, I did not catch that.",
    },
}


def phrase(name: Phrase, language: str, own: str | None = None) -> str:
    """The campaign's own wording if it has one, else the built-in one for `language`."""
    if own:
        return own
    texts = _PHRASES[name]
    return texts.get(language) or texts.get(language.split("-")[0]) or texts["en"]
