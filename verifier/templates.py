"""The words of an event in an e-mail or an SMS (docs/events.md, "Templates"): a subject and a
text per event type and language, with `${name}` placeholders for the event's fields.

Pure: no I/O. The built-in templates cover every event type in English (`en`) and Simplified
Chinese (`zh-CN`); the events file (verifier/channels_config.py) may replace any of them, and a
placeholder the event does not have is refused when the file is read, not when a message is due.
`${...}` rather than `{...}` so that a JSON body of an SMS gateway needs no escaping.
"""

from collections import defaultdict
from datetime import UTC, datetime
from string import Template
from typing import Any

from baoling.verifier.events import EVENT_TYPES, EventData

LANGUAGES = ("en", "zh-CN")
TEST_TYPE = "channel.test"
HELD_TYPE = "alerts.held"
# Messages that are no event of the outbox: a channel's test, and the summary of the messages
# a recipient's rate limit held back (their fields).
MESSAGE_TYPES = {TEST_TYPE: (), HELD_TYPE: ("count", "counts")}
# Fields every event has (the envelope's), beside its type's own fields.
ENVELOPE_FIELDS = ("id", "type", "time")
# Fields holding a Unix time: shown as a UTC date and time.
TIME_FIELDS = frozenset({"time", "locked_until", "window_start", "expires"})
# How a null field shows, and one an event lacks.
NULL = "-"

# type: {language: (subject, text)}
BUILT_IN: dict[str, dict[str, tuple[str, str]]] = {
    "validation.accepted": {
        "en": (
            "Your token ${token} was used",
            "Your token ${token} was used to sign in at ${time} through ${door} ${client} "
            "from ${source}. If this was not you, tell your administrator at once.",
        ),
        "zh-CN": (
            "您的令牌 ${token} 已被使用",
            "您的令牌 ${token} 于 ${time} 经 ${door} ${client}（来自 ${source}）被用于登录。"
            "如非本人操作，请立即联系管理员。",
        ),
    },
    "validation.replay": {
        "en": (
            "A code of token ${token} was used again",
            "A code of token ${token} that had already been used was given again at ${time} "
            "through ${door} ${client} from ${source}. Someone may have seen it.",
        ),
        "zh-CN": (
            "令牌 ${token} 的验证码被重复使用",
            "令牌 ${token} 已使用过的验证码于 ${time} 经 ${door} ${client}（来自 ${source}）"
            "再次被提交，可能已被他人窥见。",
        ),
    },
    "validation.failed_burst": {
        "en": (
            "${failures} wrong codes for token ${token}",
            "Token ${token} got ${failures} wrong codes since ${window_start}.",
        ),
        "zh-CN": (
            "令牌 ${token} 出现 ${failures} 次错误验证码",
            "自 ${window_start} 起，令牌 ${token} 已收到 ${failures} 次错误验证码。",
        ),
    },
    "token.locked": {
        "en": (
            "Token ${token} is locked",
            "Token ${token} was locked after ${fail_count} wrong codes, until ${locked_until}.",
        ),
        "zh-CN": (
            "令牌 ${token} 已被锁定",
            "令牌 ${token} 因连续 ${fail_count} 次错误验证码被锁定，解锁时间 ${locked_until}。",
        ),
    },
    "token.unlocked": {
        "en": ("Token ${token} is unlocked", "An administrator unlocked token ${token}."),
        "zh-CN": ("令牌 ${token} 已解锁", "管理员已解锁令牌 ${token}。"),
    },
    "token.enrolled": {
        "en": ("Token ${token} was enrolled", "Token ${token} was enrolled at ${time}."),
        "zh-CN": ("令牌 ${token} 已登记", "令牌 ${token} 于 ${time} 登记。"),
    },
    "token.assigned": {
        "en": (
            "Token ${token} was assigned to ${user}",
            "Token ${token} was assigned to ${user} (${role}) at ${time}.",
        ),
        "zh-CN": (
            "令牌 ${token} 已分配给 ${user}",
            "令牌 ${token} 于 ${time} 分配给 ${user}（${role}）。",
        ),
    },
    "token.drift_far": {
        "en": (
            "The clock of token ${token} is far off",
            "The clock of token ${token} is ${offset_seconds} s off (threshold "
            "${threshold_seconds} s): check or replace the token.",
        ),
        "zh-CN": (
            "令牌 ${token} 的时钟偏差过大",
            "令牌 ${token} 的时钟偏差为 ${offset_seconds} 秒（阈值 ${threshold_seconds} 秒），"
            "请检查或更换令牌。",
        ),
    },
    "token.disabled": {
        "en": ("Token ${token} is disabled", "An administrator disabled token ${token}."),
        "zh-CN": ("令牌 ${token} 已停用", "管理员已停用令牌 ${token}。"),
    },
    "token.deleted": {
        "en": ("Token ${token} was deleted", "An administrator deleted token ${token}."),
        "zh-CN": ("令牌 ${token} 已删除", "管理员已删除令牌 ${token}。"),
    },
    "audit.chain_broken": {
        "en": (
            "The audit chain is broken",
            "Verifying the audit trail found the chain broken after ${rows_checked} rows: "
            "${problem}.",
        ),
        "zh-CN": (
            "审计链已损坏",
            "校验审计记录时发现哈希链在 ${rows_checked} 行后损坏：${problem}。",
        ),
    },
    "admin.key_created": {
        "en": (
            "API key ${key_name} was created",
            "API key ${key_name} (id ${key_id}, scopes ${scopes}) was created at ${time}.",
        ),
        "zh-CN": (
            "已创建 API 密钥 ${key_name}",
            "API 密钥 ${key_name}（编号 ${key_id}，权限 ${scopes}）于 ${time} 创建。",
        ),
    },
    "backup_codes.issued": {
        "en": (
            "Backup codes were issued for ${user}",
            "${count} backup codes were issued for ${user} at ${time}, valid until ${expires}. "
            "If you did not ask for them, tell your administrator at once.",
        ),
        "zh-CN": (
            "已为 ${user} 发放备用码",
            "已于 ${time} 为 ${user} 发放 ${count} 个备用码，有效期至 ${expires}。"
            "如非本人申请，请立即联系管理员。",
        ),
    },
    "backup_code.used": {
        "en": (
            "A backup code of ${user} was used",
            "A backup code of ${user} was used to sign in at ${time} through ${door} ${client} "
            "from ${source}; ${left} unused codes are left. If this was not you, tell your "
            "administrator at once.",
        ),
        "zh-CN": (
            "${user} 的备用码已被使用",
            "${user} 的一个备用码于 ${time} 经 ${door} ${client}（来自 ${source}）被用于登录，"
            "还剩 ${left} 个未使用。如非本人操作，请立即联系管理员。",
        ),
    },
    TEST_TYPE: {
        "en": ("Baoling test message", "This is a test of the channel, sent at ${time}."),
        "zh-CN": ("Baoling 测试消息", "这是一条通道测试消息，发送于 ${time}。"),
    },
    HELD_TYPE: {
        "en": (
            "${count} more Baoling alerts",
            "${count} more alerts came after ${time} and were held back by the rate limit: "
            "${counts}. The event list has each of them.",
        ),
        "zh-CN": (
            "另有 ${count} 条 Baoling 告警",
            "自 ${time} 起另有 ${count} 条告警因频率限制未单独发送：${counts}。"
            "事件列表中有全部记录。",
        ),
    },
}


def placeholders(event_type: str) -> tuple[str, ...]:
    """The names a template of this event type may use."""
    model: type[EventData] | None = EVENT_TYPES.get(event_type)
    fields = tuple(model.model_fields) if model is not None else MESSAGE_TYPES[event_type]
    return ENVELOPE_FIELDS + fields


def unknown_placeholders(template: str, allowed: tuple[str, ...]) -> list[str]:
    """The placeholders of `template` not in `allowed`; a malformed `$` counts as one."""
    parsed = Template(template)
    if not parsed.is_valid():
        return ["a lone '$' (write $$ for a dollar sign)"]
    return [name for name in parsed.get_identifiers() if name not in allowed]


def _shown(name: str, value: Any) -> str:
    if value is None:
        return NULL
    if name in TIME_FIELDS and isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def values(event: dict[str, Any]) -> dict[str, str]:
    """An envelope's fields as a template shows them."""
    fields = {name: event[name] for name in ENVELOPE_FIELDS} | event["data"]
    return {name: _shown(name, value) for name, value in fields.items()}


def render(template: str, event: dict[str, Any]) -> str:
    """The template filled with the envelope's fields. Its placeholders were checked against
    the type's fields when the file was read; a field the event lacks was added to the type
    after the event was written (fields are only added within a version), and shows as a null
    one does."""
    return Template(template).substitute(defaultdict(lambda: NULL, values(event)))
