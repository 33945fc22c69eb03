"""The console's words in zh-TW, ko and en: one small catalogue, chosen per agent.

The signed-in agent's first language the console speaks wins; before sign-in (or for an agent
whose languages it does not speak) the browser's Accept-Language decides; English otherwise.
A key missing from a language falls back to English, so a new string never breaks a page.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

LOCALES: Final = ("zh-TW", "ko", "en")
DEFAULT: Final = "en"

_EN: Final[dict[str, str]] = {
    "app": "Callback console",
    "sign_in": "Sign in",
    "sign_out": "Sign out",
    "username": "Username",
    "password": "Password",
    "bad_sign_in": "Wrong username or password.",
    "throttled": "Too many failed sign-ins. Try again in {minutes} minutes.",
    "my_calls": "My calls",
    "calls_of": "Calls of {agent}",
    "no_calls": "No calls waiting. Well done.",
    "customer": "Customer",
    "member": "Member",
    "campaign": "Campaign",
    "deadline": "Deadline",
    "time_left": "Time left",
    "overdue": "overdue",
    "overdue_by": "overdue {d}",
    "n_overdue": "{n} past the deadline",
    "past_deadline": "Past the deadline: still worth a call, it counts as reached late.",
    "appointment": "Appointment",
    "appointment_later": "later, at its time",
    "appointment_overdue_by": "{d} past the agreed time",
    "n_appointments_overdue": "{n} appointment(s) overdue",
    "missed_appointments": "The agreed time passed without the call: the customer is waiting, "
    "call first.",
    "window": "Calling window",
    "open_now": "open now",
    "closed_now": "closed",
    "opens_at": "opens {at}",
    "local_time": "Customer's local time",
    "open": "Open",
    "language": "Language",
    "phone": "Phone",
    "masked_until_call": "shown when you start the call",
    "start_call": "Start call",
    "call_refused": "The call cannot be made now: {reason}",
    "dial_manually": "Dial this number now:",
    "ringing_you": "Your phone is ringing; answer it and you are connected to the customer.",
    "in_call": "In call",
    "service_history": "Service history",
    "previous_outcomes": "Previous outcomes",
    "none": "none",
    "script": "Script",
    "answer_was": "The customer's answer:",
    "satisfied": "satisfied",
    "average": "average",
    "unsatisfied": "unsatisfied",
    "callback_requested": "call back later",
    "refused": "refused",
    "opted_out": "opt out (no more calls)",
    "wrong_number": "wrong number",
    "not_reached": "not reached",
    "not_contactable": "not contactable",
    "record": "Record the outcome",
    "reason": "Reason",
    "note": "Note (the customer's words)",
    "callback_at": "Call back at (customer's local time, {zone})",
    "no_answer": "No answer",
    "busy": "Busy",
    "voicemail": "Voicemail",
    "end_without": "Nobody to talk to:",
    "recorded": "Recorded: {outcome}.",
    "recorded_callback": "Recorded: call back at {at}.",
    "case_opened": "A follow-up case was opened (#{case}).",
    "back": "Back to my calls",
    "next_call": "Next call",
    "supervisor": "Supervisor",
    "agents_load": "Agents' load",
    "agent": "Agent",
    "capacity": "Capacity",
    "open_tasks": "Open tasks",
    "done_today": "Done today",
    "load": "Load",
    "reassign": "Reassign",
    "reassign_to": "Task number and new agent",
    "task": "Task",
    "to_agent": "to agent",
    "reassigned": "Task {task} now belongs to {agent}.",
    "complaints": "Open complaints",
    "case": "Case",
    "state": "State",
    "owner": "Owner",
    "opened": "Opened",
    "coverage": "Coverage",
    "member_coverage": "Member coverage",
    "goal": "goal",
    "in_time": "in time",
    "late": "late",
    "pending": "pending",
    "at_risk": "at risk",
    "breached": "breached",
    "members": "Members",
    "non_members": "Non-members",
    "not_found": "Not found.",
    "bad_value": "The form or address holds a value the console cannot use.",
    "forbidden": "This form has expired; reload the page and try again.",
    "error": "Cannot do that: {message}",
    "description": "Description",
    "department": "Department",
    "resolution": "Solution",
    "yes": "yes",
    "no": "no",
    "gate_halt": "emergency stop is on",
    "gate_stopped": "the campaign was stopped",
    "gate_paused": "the campaign is paused",
    "gate_consent": "no marketing consent",
    "gate_dnc": "on the do-not-contact list",
    "gate_number": "the number cannot take this channel",
    "gate_cap": "too many contacts in the last 24 hours",
    "gate_recent": "contacted moments ago",
    "gate_no_window": "no open calling window within 45 days",
    "gate_window": "outside the customer's calling window",
}

_ZH: Final[dict[str, str]] = {
    "app": "回訪工作台",
    "sign_in": "登入",
    "sign_out": "登出",
    "username": "帳號",
    "password": "密碼",
    "bad_sign_in": "帳號或密碼錯誤。",
    "throttled": "登入失敗次數過多，請於 {minutes} 分鐘後再試。",
    "my_calls": "我的回訪",
    "calls_of": "{agent} 的回訪",
    "no_calls": "目前沒有待回訪的客戶，辛苦了。",
    "customer": "客戶",
    "member": "會員",
    "campaign": "活動",
    "deadline": "期限",
    "time_left": "剩餘時間",
    "overdue": "已逾期",
    "overdue_by": "已逾期 {d}",
    "n_overdue": "{n} 筆已過期限",
    "past_deadline": "已過回訪期限：仍請回訪，計為逾期回訪。",
    "appointment": "預約",
    "appointment_later": "稍後，依預約時間",
    "appointment_overdue_by": "已過約定時間 {d}",
    "n_appointments_overdue": "{n} 筆預約已逾時",
    "missed_appointments": "約定時間已過仍未回電：客戶正在等候，請優先回訪。",
    "window": "可撥打時段",
    "open_now": "現在可撥",
    "closed_now": "休息時段",
    "opens_at": "{at} 開始",
    "local_time": "客戶當地時間",
    "open": "開啟",
    "language": "語言",
    "phone": "電話",
    "masked_until_call": "開始通話後顯示",
    "start_call": "開始通話",
    "call_refused": "現在不能撥打：{reason}",
    "dial_manually": "請撥打此號碼：",
    "ringing_you": "您的電話正在響鈴，接聽後即與客戶接通。",
    "in_call": "通話中",
    "service_history": "服務紀錄",
    "previous_outcomes": "過去的回訪結果",
    "none": "無",
    "script": "回訪用語",
    "answer_was": "客戶的回答：",
    "satisfied": "滿意",
    "average": "一般",
    "unsatisfied": "不滿意",
    "callback_requested": "另約時間",
    "refused": "拒絕",
    "opted_out": "不再來電",
    "wrong_number": "號碼錯誤",
    "not_reached": "未聯絡到",
    "not_contactable": "無法聯絡",
    "record": "記錄回訪結果",
    "reason": "原因",
    "note": "備註（客戶原話）",
    "callback_at": "回電時間（客戶當地時間，{zone}）",
    "no_answer": "無人接聽",
    "busy": "忙線",
    "voicemail": "語音信箱",
    "end_without": "未能通話：",
    "recorded": "已記錄：{outcome}。",
    "recorded_callback": "已記錄：{at} 回電。",
    "case_opened": "已開立跟進個案（#{case}）。",
    "back": "回到我的回訪",
    "next_call": "下一通",
    "supervisor": "主管",
    "agents_load": "專員工作量",
    "agent": "專員",
    "capacity": "每日容量",
    "open_tasks": "待回訪",
    "done_today": "今日完成",
    "load": "負荷",
    "reassign": "改派",
    "reassign_to": "任務編號與新專員",
    "task": "任務",
    "to_agent": "改派給",
    "reassigned": "任務 {task} 已改派給 {agent}。",
    "complaints": "處理中的投訴",
    "case": "個案",
    "state": "狀態",
    "owner": "負責人",
    "opened": "開立時間",
    "coverage": "回訪覆蓋率",
    "member_coverage": "會員回訪率",
    "goal": "目標",
    "in_time": "準時",
    "late": "逾時",
    "pending": "待處理",
    "at_risk": "有風險",
    "breached": "已逾期",
    "members": "會員",
    "non_members": "非會員",
    "not_found": "找不到。",
    "bad_value": "表單或網址中有無法使用的值。",
    "forbidden": "此表單已過期，請重新整理頁面後再試。",
    "error": "無法執行：{message}",
    "description": "說明",
    "department": "負責部門",
    "resolution": "處理方案",
    "yes": "是",
    "no": "否",
    "gate_halt": "緊急停止中",
    "gate_stopped": "此活動已停止",
    "gate_paused": "此活動已暫停",
    "gate_consent": "客戶未同意行銷聯絡",
    "gate_dnc": "客戶在拒絕聯絡名單中",
    "gate_number": "此號碼無法使用這個管道",
    "gate_cap": "過去24小時內聯絡次數已達上限",
    "gate_recent": "剛剛才聯絡過",
    "gate_no_window": "45天內沒有可撥打時段",
    "gate_window": "不在客戶的可撥打時段內",
}

_KO: Final[dict[str, str]] = {
    "app": "콜백 콘솔",
    "sign_in": "로그인",
    "sign_out": "로그아웃",
    "username": "아이디",
    "password": "비밀번호",
    "bad_sign_in": "아이디 또는 비밀번호가 틀렸습니다.",
    "throttled": "로그인 실패가 너무 많습니다. {minutes}분 후에 다시 시도하세요.",
    "my_calls": "내 통화",
    "calls_of": "{agent}의 통화",
    "no_calls": "대기 중인 통화가 없습니다. 수고하셨습니다.",
    "customer": "고객",
    "member": "회원",
    "campaign": "캠페인",
    "deadline": "기한",
    "time_left": "남은 시간",
    "overdue": "기한 초과",
    "overdue_by": "기한 초과 {d}",
    "n_overdue": "기한 지남 {n}건",
    "past_deadline": "기한이 지났습니다: 그래도 전화하면 기한 후 연결로 집계됩니다.",
    "appointment": "예약",
    "appointment_later": "나중에, 예약 시간에",
    "appointment_overdue_by": "약속 시간 {d} 지남",
    "n_appointments_overdue": "예약 시간 지남 {n}건",
    "missed_appointments": "약속 시간이 지났는데 아직 전화하지 않았습니다: 고객이 기다리고 있으니 "
    "먼저 전화하세요.",
    "window": "통화 가능 시간",
    "open_now": "지금 가능",
    "closed_now": "휴식 시간",
    "opens_at": "{at}부터",
    "local_time": "고객 현지 시간",
    "open": "열기",
    "language": "언어",
    "phone": "전화",
    "masked_until_call": "통화를 시작하면 표시됩니다",
    "start_call": "통화 시작",
    "call_refused": "지금은 전화할 수 없습니다: {reason}",
    "dial_manually": "이 번호로 전화하세요:",
    "ringing_you": "상담원 전화가 울립니다. 받으면 고객과 연결됩니다.",
    "in_call": "통화 중",
    "service_history": "서비스 이력",
    "previous_outcomes": "이전 결과",
    "none": "없음",
    "script": "스크립트",
    "answer_was": "고객의 답변:",
    "satisfied": "만족",
    "average": "보통",
    "unsatisfied": "불만족",
    "callback_requested": "나중에 다시 전화",
    "refused": "거절",
    "opted_out": "수신 거부",
    "wrong_number": "잘못된 번호",
    "not_reached": "연결 안 됨",
    "not_contactable": "연락 불가",
    "record": "결과 기록",
    "reason": "이유",
    "note": "메모 (고객의 말)",
    "callback_at": "다시 전화할 시간 (고객 현지 시간, {zone})",
    "no_answer": "받지 않음",
    "busy": "통화 중",
    "voicemail": "음성 사서함",
    "end_without": "통화하지 못함:",
    "recorded": "기록됨: {outcome}.",
    "recorded_callback": "기록됨: {at}에 다시 전화.",
    "case_opened": "후속 케이스가 열렸습니다 (#{case}).",
    "back": "내 통화로",
    "next_call": "다음 통화",
    "supervisor": "관리자",
    "agents_load": "상담원 업무량",
    "agent": "상담원",
    "capacity": "일일 처리량",
    "open_tasks": "대기 작업",
    "done_today": "오늘 완료",
    "load": "부하",
    "reassign": "재배정",
    "reassign_to": "작업 번호와 새 상담원",
    "task": "작업",
    "to_agent": "배정할 상담원",
    "reassigned": "작업 {task}이(가) {agent}에게 배정되었습니다.",
    "complaints": "처리 중인 불만",
    "case": "케이스",
    "state": "상태",
    "owner": "담당자",
    "opened": "접수",
    "coverage": "커버리지",
    "member_coverage": "회원 커버리지",
    "goal": "목표",
    "in_time": "기한 내",
    "late": "늦음",
    "pending": "대기",
    "at_risk": "위험",
    "breached": "기한 초과",
    "members": "회원",
    "non_members": "비회원",
    "not_found": "찾을 수 없습니다.",
    "bad_value": "양식이나 주소에 사용할 수 없는 값이 있습니다.",
    "forbidden": "양식이 만료되었습니다. 페이지를 새로 고친 뒤 다시 시도하세요.",
    "error": "할 수 없습니다: {message}",
    "description": "설명",
    "department": "담당 부서",
    "resolution": "해결 방안",
    "yes": "예",
    "no": "아니요",
    "gate_halt": "긴급 정지 중입니다",
    "gate_stopped": "캠페인이 중지되었습니다",
    "gate_paused": "캠페인이 일시 중지되었습니다",
    "gate_consent": "마케팅 수신 동의가 없습니다",
    "gate_dnc": "연락 금지 목록에 있습니다",
    "gate_number": "이 번호로는 이 방법을 쓸 수 없습니다",
    "gate_cap": "최근 24시간 연락 횟수 한도에 도달했습니다",
    "gate_recent": "방금 연락했습니다",
    "gate_no_window": "45일 안에 통화 가능 시간이 없습니다",
    "gate_window": "고객의 통화 가능 시간이 아닙니다",
}

CATALOGUE: Final[dict[str, dict[str, str]]] = {"en": _EN, "zh-TW": _ZH, "ko": _KO}


def match(tag: str) -> str | None:
    """The console locale for one language tag: zh-TW (and zh-Hant, zh-HK), ko, en."""
    t = tag.strip().replace("_", "-").casefold()
    if not t:
        return None
    if t.startswith("zh"):
        return "zh-TW"  # the console speaks traditional Chinese only
    base = t.split("-")[0]
    return {"ko": "ko", "en": "en"}.get(base)


def choose(agent_languages: Iterable[str] = (), accept_language: str | None = None) -> str:
    """The agent's first spoken console language, else the browser's best, else English."""
    for tag in agent_languages:
        found = match(tag)
        if found:
            return found
    if accept_language:
        weighted: list[tuple[float, int, str]] = []
        for i, part in enumerate(accept_language.split(",")):
            lang, _, params = part.partition(";")
            q = 1.0
            if params.strip().startswith("q="):
                try:
                    q = float(params.strip()[2:])
                except ValueError:
                    q = 0.0
            weighted.append((-q, i, lang))
        for _, _, lang in sorted(weighted):
            found = match(lang)
            if found:
                return found
    return DEFAULT


# The gate's reasons (dialer.gate, in English for logs and the CLI) by how they begin.
GATE_REASONS: Final[tuple[tuple[str, str], ...]] = (
    ("emergency stop", "gate_halt"),
    ("the campaign was stopped", "gate_stopped"),
    ("the campaign is paused", "gate_paused"),
    ("no marketing consent", "gate_consent"),
    ("on the do-not-contact list", "gate_dnc"),
    ("the number cannot take", "gate_number"),
    ("contact cap", "gate_cap"),
    ("contacted moments ago", "gate_recent"),
    ("no open calling window", "gate_no_window"),
    ("outside the customer's calling window", "gate_window"),
)


class Translator:
    """`t("key", name=value)` for one locale, falling back to English."""

    def __init__(self, locale: str) -> None:
        self.locale = locale if locale in CATALOGUE else DEFAULT
        self._words = CATALOGUE[self.locale]

    def __call__(self, key: str, **values: object) -> str:
        text = self._words.get(key) or _EN.get(key) or key
        return text.format(**values) if values else text

    def reason(self, gate_reason: str) -> str:
        """The gate's reason in this locale (as the gate said it if it is a new one)."""
        for start, key in GATE_REASONS:
            if gate_reason.startswith(start):
                return self(key)
        return gate_reason
