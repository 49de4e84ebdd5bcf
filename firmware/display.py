# The token's screens on a 128x64 mono FrameBuffer-like object (micropython-lib's SSD1306 driver
# on boards, a framebuf.FrameBuffer on the sim board).
#
# FrameBuffer.text is fixed at 8x8 pixels, far below the 24 px the design asks for, so the code
# is drawn as seven-segment digits with fill_rect: no font data in RAM. A code screen is drawn
# whole at a period boundary (one show(), so it does not flicker); tick() then redraws only the
# countdown bar, once a second.
#
# A label line in another script (Chinese, Greek, ...) is not drawn with the font: the host
# renders it into a 1-bit bitmap (labels.py, docs/protocol.md profile.label) and the code screen
# blits that bitmap where the text would be.
from micropython import const

WIDTH = const(128)  # public: menu.py draws on the same screen
_CHAR = const(8)  # FrameBuffer.text glyphs are 8x8
MAX_CHARS = const(16)  # 128 / 8
_DIGIT_Y = const(14)  # top row of the digits
_DIGIT_H = const(32)  # digit height
_SEG = const(3)  # segment thickness
_BAR_Y = const(54)  # countdown bar: outline rows 54..63
_BAR_H = const(10)
_BAR_INSET = const(2)  # outline plus one blank pixel around the fill
_BAR_FILL_W = const(124)  # WIDTH - 2 * _BAR_INSET
_TITLE_H = const(12)  # inverted title band of status screens
_LINE_Y = const(18)  # first message line of status screens
_LINE_STEP = const(11)
_DETAIL_Y = const(56)

# Seven-segment patterns of 0..9: bit 0 = a (top), b (top right), c (bottom right), d (bottom),
# e (bottom left), f (top left), bit 6 = g (middle).
_SEGMENTS = const(b"\x3f\x06\x5b\x4f\x66\x6d\x7d\x07\x7f\x6f")

# digits in the code: (digit width, space between digits, gap between groups, first group size)
# for 6, 7 and 8 digits
_LAYOUTS = const(((16, 4, 12, 3), (14, 3, 10, 4), (12, 3, 8, 4)))

# Status screens, one per line: kind|TITLE|message lines...; every line fits the 16 characters
# of a row. One string rather than a dict of tuples: about 1.3 KB less RAM for rarely shown text.
_STATUS = const(
    "\nhello|BAOLING|TOTP token"
    "\nno_secret|NO SECRET|No profile yet:|provision me|over USB."
    "\nset_time|SET TIME|Clock not set.|Connect to the|host to sync."
    "\nlocked|LOCKED|Production lock|is on."
    "\nwipe_confirm|WIPE?|press button|to wipe"
    "\nstore_error|STORE ERROR|Stored profiles|are damaged.|Wipe to reset."
    "\nwiped|WIPED|All secrets|erased."
    "\npin|ENTER PIN|short: digit+1|long: next digit"
    "\npin_ab|ENTER PIN|A: digit+1|B: next digit"
    "\nwrong_pin|WRONG PIN|Try again."
    "\n"
)


def digit_box(count, index):
    """(x, y, width, height) of digit `index` of a `count`-digit code: 3+3, 4+3 or 4+4."""
    if not 6 <= count <= 8:
        raise ValueError("code must have 6 to 8 digits")
    width, space, gap, first = _LAYOUTS[count - 6]
    total = count * width + (count - 2) * space + gap
    x = (WIDTH - total) // 2 + index * (width + space)
    if index >= first:
        x += gap - space
    return x, _DIGIT_Y, width, _DIGIT_H


def _draw_digit(fb, digit, box):
    x, y, w, h = box  # digit_box's
    segments = _SEGMENTS[digit]
    if digit == 1:  # its stroke centred in the box, so "1" does not read as a gap in the code
        x -= (w - _SEG) // 2
    mid = y + (h - _SEG) // 2  # top row of the middle segment
    upper = mid - y + _SEG  # height of the upper verticals (reach through the middle)
    lower = y + h - mid  # height of the lower verticals
    if segments & 0x01:
        fb.fill_rect(x, y, w, _SEG, 1)
    if segments & 0x02:
        fb.fill_rect(x + w - _SEG, y, _SEG, upper, 1)
    if segments & 0x04:
        fb.fill_rect(x + w - _SEG, mid, _SEG, lower, 1)
    if segments & 0x08:
        fb.fill_rect(x, y + h - _SEG, w, _SEG, 1)
    if segments & 0x10:
        fb.fill_rect(x, mid, _SEG, lower, 1)
    if segments & 0x20:
        fb.fill_rect(x, y, _SEG, upper, 1)
    if segments & 0x40:
        fb.fill_rect(x, mid, w, _SEG, 1)


def _centred(fb, text, y, colour):
    fb.text(text, (WIDTH - len(text) * _CHAR) // 2, y, colour)


class Display:
    """Draws the screens on `fb` and keeps `description`, a dict of what is shown now."""

    def __init__(self, fb):
        self.fb = fb
        self.description = {"screen": "blank"}

    def show_code(self, code, label, seconds_left, period, slot, slots, bitmap=None):
        """Whole code screen: label and slot on top, the code's digits, the countdown bar.
        bitmap (store.label): None to draw label with the font; (rows, width, height) of the
        host's MONO_HLSB bitmap to draw instead; () for a line the font cannot draw whose bitmap
        is missing: left blank, never garbled."""
        count = len(code)
        if not 6 <= count <= 8:
            raise ValueError("code must have 6 to 8 digits")
        if not code.isdigit():
            raise ValueError("code must be digits")
        fb = self.fb
        fb.fill(0)
        room = MAX_CHARS
        indicator = ""
        if slots > 1:
            indicator = "%d/%d" % (slot + 1, slots)
            room -= len(indicator) + 1
        if bitmap:
            import labels  # loaded already: the store read the bitmap with it

            labels.draw(fb, bitmap, 0, 0, room * _CHAR)
        elif bitmap is None:
            fb.text(label[:room], 0, 0, 1)
        if indicator:
            fb.text(indicator, WIDTH - len(indicator) * _CHAR, 0, 1)
        digits = code.encode()  # bytes: code[i] would intern each digit as a qstr for good
        for i in range(count):
            _draw_digit(fb, digits[i] - 48, digit_box(count, i))  # "0" is 48
        fb.rect(0, _BAR_Y, WIDTH, _BAR_H, 1)
        self.description = {
            "screen": "code",
            "code": code,
            "label": label,
            "seconds_left": seconds_left,
            "period": period,
            "slot": slot,
            "slots": slots,
        }
        self._bar(seconds_left, period)
        fb.show()

    def tick(self, seconds_left, period):
        """Redraw only the countdown bar's inside; nothing else on the screen changes."""
        if self.description["screen"] != "code":
            return
        self.description["seconds_left"] = seconds_left
        self._bar(seconds_left, period)
        self.fb.show()

    def _bar(self, seconds_left, period):
        left = min(max(seconds_left, 0), period)
        inner_y = _BAR_Y + _BAR_INSET
        inner_h = _BAR_H - 2 * _BAR_INSET
        filled = _BAR_FILL_W * left // period
        self.fb.fill_rect(_BAR_INSET, inner_y, _BAR_FILL_W, inner_h, 0)
        self.fb.fill_rect(_BAR_INSET, inner_y, filled, inner_h, 1)

    def show_status(self, kind, detail=""):
        """A status screen: inverted title band, its message lines, an optional detail line."""
        start = _STATUS.find("\n" + kind + "|") if "|" not in kind else -1
        if start < 0:
            raise ValueError("unknown screen")
        fields = _STATUS[start + len(kind) + 2 : _STATUS.find("\n", start + 1)].split("|")
        fb = self.fb
        fb.fill(0)
        fb.fill_rect(0, 0, WIDTH, _TITLE_H, 1)
        _centred(fb, fields[0], (_TITLE_H - _CHAR) // 2, 0)
        y = _LINE_Y
        for i in range(1, len(fields)):
            _centred(fb, fields[i], y, 1)
            y += _LINE_STEP
        if detail:
            _centred(fb, detail[:MAX_CHARS], _DETAIL_Y, 1)
            self.description = {"screen": kind, "detail": detail}
        else:
            self.description = {"screen": kind}
        fb.show()
