# The menu screen (issue 17 item 3): the list of labels, five a page. It is drawn only while the
# menu is open, so app.py loads this module for a redraw and drops it after (app.py _TRANSIENT):
# codes and provisioning never hold its code (docs/firmware-memory.md).
from micropython import const

from display import MAX_CHARS, WIDTH

_ROWS = const(5)  # labels on one page
_STEP = const(13)  # row pitch: a 12-row label bitmap and one blank row
_X = const(8)  # labels start after the cursor mark


def show(display, count, cursor, row):
    """Draw the page of labels holding item `cursor` of `count`, a '>' before it, on a
    display.Display. row(i) gives item i's label line and its bitmap as for show_code; it is
    called once per row and its bitmap drawn before the next call (labels.read shares one
    buffer)."""
    fb = display.fb
    fb.fill(0)
    first = cursor - cursor % _ROWS
    shown = []
    for i in range(first, min(first + _ROWS, count)):
        y = (i - first) * _STEP
        label, bitmap = row(i)
        if i == cursor:
            fb.text(">", 0, y + 2, 1)
        if bitmap:
            import labels

            labels.draw(fb, bitmap, _X, y, WIDTH)
        elif bitmap is None:
            fb.text(label[: MAX_CHARS - 1], _X, y + 2, 1)
        shown.append(label)
    display.description = {"screen": "menu", "cursor": cursor, "count": count, "labels": shown}
    fb.show()
