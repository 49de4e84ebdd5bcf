"""The console's two languages, English and Simplified Chinese (docs/console.md): which one a
request gets, and the Chinese text of each English message. Pure: no I/O.

The English text is the message's key, so a page reads as English in its template and a
message missing from the table shows in English rather than as a code.
"""

ENGLISH, CHINESE = "en", "zh-CN"
LANGUAGES = (ENGLISH, CHINESE)
LANGUAGE_NAMES = {ENGLISH: "English", CHINESE: "中文"}

_ZH: dict[str, str] = {
    "Baoling console": "宝铃控制台",
    "Overview": "概览",
    "Tokens": "令牌",
    "Users": "用户",
    "Enrol": "注册令牌",
    "Audit": "审计",
    "Sign in": "登录",
    "Sign out": "退出登录",
    "Account": "账户",
    "Password": "密码",
    "Code from your token": "令牌上的动态码",
    "Signed in as": "当前账户",
    "Role": "角色",
    "admin": "管理员",
    "helpdesk": "服务台",
    "Wrong name, password or code.": "账户名、密码或动态码错误。",
    "This code was used already: wait for the next one.": "此动态码已使用过，请等待下一个。",
    "Your token is locked: ask an administrator to unlock it.": (
        "您的令牌已锁定，请联系管理员解锁。"
    ),
    "Your token is disabled: ask an administrator.": "您的令牌已停用，请联系管理员。",
    "Too many failed sign-ins: wait a few minutes.": "登录失败次数过多，请稍后再试。",
    "Your session has ended: sign in again.": "会话已结束，请重新登录。",
    "The form has expired or did not come from this console; nothing was changed.": (
        "表单已过期或并非来自本控制台，未做任何更改。"
    ),
    "Your role may not do this; the attempt was recorded.": (
        "您的角色无权执行此操作，已记录此次尝试。"
    ),
    "The form could not be read; nothing was changed.": "无法读取表单，未做任何更改。",
    "There is no such page in the console.": "控制台中没有此页面。",
    "A field holds a NUL character; nothing was changed.": "字段中含有 NUL 字符，未做任何更改。",
    "A console account signs in with this token: only an administrator changes it.": (
        "有控制台账户使用此令牌登录：只有管理员可以更改它。"
    ),
    "Drift beyond is a number of steps, 0 or more.": "偏差超过（步）须为 0 或更大的数字。",
    "Used within is a number of days, or never.": "最近使用（天内）须为天数，或 never。",
    "This address only takes the form of its page: open the page and use its button.": (
        "此地址只接受其页面上的表单：请打开该页面并使用其按钮。"
    ),
    "The user is deactivated: nothing was changed.": "该用户已停用，未做任何更改。",
    "The token is not this user's: nothing was changed.": "该令牌不属于此用户，未做任何更改。",
    "A time is written YYYY-MM-DD or YYYY-MM-DD HH:MM (UTC).": (
        "时间格式为 YYYY-MM-DD 或 YYYY-MM-DD HH:MM（UTC）。"
    ),
    "Validations in the last hour": "最近一小时的验证",
    "accepted": "通过",
    "rejected": "拒绝",
    "per minute": "每分钟",
    "minutes ago": "分钟前",
    "Locked tokens": "已锁定的令牌",
    "Tokens with far drift": "时钟偏差大的令牌",
    "Audit chain": "审计链",
    "intact": "完整",
    "BROKEN": "已损坏",
    "Verified": "验证于",
    "Accounts": "账户管理",
    "Console accounts": "控制台账户",
    "Activate": "启用",
    "Deactivate": "停用",
    "Add": "添加",
    "Add an account": "添加账户",
    "New password": "新密码",
    "Replace the password": "重设密码",
    "Change the token": "更换令牌",
    "The account is added.": "账户已添加。",
    "The account is active again.": "账户已重新启用。",
    "The account is deactivated; its sessions ended.": "账户已停用，其会话已结束。",
    "The password is replaced; the account's sessions ended.": "密码已重设，该账户的会话已结束。",
    "The account signs in with the new token; its sessions ended.": (
        "该账户今后使用新令牌登录，其会话已结束。"
    ),
    "The token must be enrolled first (Enrol, or the command line); the account signs in with "
    "its password and a code from that token.": (
        "令牌须先注册（注册令牌页面或命令行）；该账户用密码和该令牌上的动态码登录。"
    ),
    "You cannot deactivate your own account.": "不能停用自己的账户。",
    "Verify it again on the Audit page.": "在审计页面重新验证。",
    "rows": "行",
    "Events outbox": "事件发件箱",
    "pending": "待发送",
    "dead": "失败",
    "Events are off (no webhook).": "未启用事件（没有 webhook）。",
    "None.": "无。",
    "Token": "令牌",
    "Label": "标签",
    "State": "状态",
    "User": "用户",
    "Realm": "域",
    "Drift": "时钟偏差",
    "Last used": "最近使用",
    "never": "从未",
    "active": "正常",
    "disabled": "已停用",
    "locked": "已锁定",
    "any": "全部",
    "Search": "搜索",
    "Filter": "筛选",
    "Drift beyond (steps)": "偏差超过（步）",
    "Used within (days)": "最近使用（天内）",
    "steps": "步",
    "seconds": "秒",
    "Clock drift": "时钟偏差",
    "Observed offsets (s) and the learned rate": "观测到的偏差（秒）与学习到的速率",
    "No accepted codes yet: no drift to draw.": "尚无通过的动态码，无法绘制偏差。",
    "Offset now": "当前偏差",
    "Rate": "速率",
    "Failures": "失败次数",
    "Locked until": "锁定至",
    "Algorithm": "算法",
    "Digits": "位数",
    "Period": "周期",
    "Created": "创建时间",
    "Actions": "操作",
    "Disable": "停用",
    "Enable": "启用",
    "Unlock": "解锁",
    "Resync": "重新同步",
    "First code": "第一个动态码",
    "Second code": "第二个动态码",
    "Reset drift": "重置时钟偏差",
    "Assign": "分配",
    "Unassign": "取消分配",
    "Delete": "删除",
    "Type the token id to confirm": "输入令牌编号以确认",
    "Audit rows": "审计记录",
    "Time": "时间",
    "Action": "操作",
    "Detail": "详情",
    "Name": "名称",
    "Display name": "显示名称",
    "Active": "正常",
    "Deactivated": "已停用",
    "RADIUS login": "RADIUS 登录",
    "in one round": "一轮完成（密码与动态码一起输入）",
    "in two rounds": "分两轮（先密码，再动态码）",
    "as its client entry says": "按 RADIUS 客户端的设置",
    "primary": "主令牌",
    "spare": "备用令牌",
    "Disable the token and make backup codes": "停用该令牌并生成备用码",
    "Backup codes": "备用码",
    "Shown once: print them or hand them over now. They cannot be shown again.": (
        "只显示一次：请立即打印或交给用户，之后无法再次显示。"
    ),
    "Print": "打印",
    "Assign a token by serial": "按序列号分配令牌",
    "A code from the token": "该令牌上的动态码",
    "Enrol a phone token": "为手机注册令牌",
    "Scan this QR code with the phone's authenticator app now.": (
        "请立即用手机上的身份验证器扫描此二维码。"
    ),
    "It is shown once and never again.": "它只显示一次，之后不会再显示。",
    "Token id": "令牌编号",
    "Verify the chain": "校验审计链",
    "The audit chain is intact.": "审计链完整。",
    "The audit chain is broken": "审计链已损坏",
    "From (UTC)": "从（UTC）",
    "Until (UTC)": "至（UTC）",
    "Done.": "已完成。",
    "The token is disabled.": "令牌已停用。",
    "The token is enabled.": "令牌已启用。",
    "The token is unlocked.": "令牌已解锁。",
    "The token is resynchronised.": "令牌已重新同步。",
    "The two codes were not found together: nothing changed.": "未找到连续的两个动态码，未做更改。",
    "The drift is reset.": "时钟偏差已重置。",
    "The token is assigned.": "令牌已分配。",
    "The token is unassigned.": "令牌已取消分配。",
    "The token is deleted.": "令牌已删除。",
    "The typed id does not match: nothing was deleted.": "输入的编号不匹配，未删除任何内容。",
    "The last day is not a date.": "最后一天不是有效日期。",
    "Valid through": "有效期至",
    "Lost token": "令牌丢失",
    "Confirm with a code from the phone": "用手机上显示的动态码确认",
    "Until a code is confirmed the token belongs to nobody.": (
        "确认动态码之前，该令牌不属于任何用户。"
    ),
    "Each code works once, until": "每个备用码只能使用一次，有效期至",
    "Refused": "已拒绝",
    "Language": "语言",
    "Console action": "控制台操作",
    "Where": "位置",
}


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The language a request gets: the switch's cookie if it names one, else the first of
    Accept-Language's languages (by quality) that the console has, else English."""
    if cookie in LANGUAGES:
        return cookie
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, index, tag.strip().lower()))
    for negative_quality, _, tag in sorted(ranked):
        if negative_quality >= 0:
            break
        if tag == "zh" or tag.startswith(("zh-cn", "zh-hans", "zh-sg")):
            return CHINESE
        if tag == "en" or tag.startswith("en-"):
            return ENGLISH
    return ENGLISH


def translate(language: str, text: str) -> str:
    """`text` in `language` (the English text when the table has none)."""
    return _ZH.get(text, text) if language == CHINESE else text
