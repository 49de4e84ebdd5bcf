"""firmware/clock.py and firmware/ds3231.py under real MicroPython.

Sources of truth: docs/protocol.md's time object (the drift formula, trust rules, build date),
CPython's datetime for calendar dates, and the DS3231 datasheet's register map (BCD time at
0x00..0x06, century bit 7 of the month register, oscillator-stop flag bit 7 of 0x0F).
The board's running clock and the DS3231 are memory stand-ins: no such hardware exists here.
"""

import datetime
import json
import random

from tests.micropython_runner import run_micropython

BUILD_MS = 1793491200000  # docs/protocol.md: 2026-11-01T00:00:00Z

# A board with a settable running clock and, optionally, a DS3231 on a memory-backed I2C bus.
_BOARD = """\
import json
import clock, ds3231

class I2C:
    def __init__(self, regs):
        self.regs = bytearray(regs)
    def readfrom_mem_into(self, addr, reg, buf):
        if addr != 0x68:
            raise OSError(19)
        for i in range(len(buf)):
            buf[i] = self.regs[reg + i]
    def writeto_mem(self, addr, reg, buf):
        if addr != 0x68:
            raise OSError(19)
        for i in range(len(buf)):
            self.regs[reg + i] = buf[i]

class Board:
    def __init__(self, now, rtc=None):
        self.t = now
        self.rtc = rtc
    def now_ms(self):
        return self.t
    def set_now_ms(self, ms):
        self.t = ms
"""


def run(body: str) -> object:
    return json.loads(run_micropython(_BOARD + body).strip().splitlines()[-1])


def test_corrected_time_follows_the_documented_formula() -> None:
    synced = 1795000000000
    cases = [
        (synced + 10**9 + 10**5, 100_000),  # 100 ppm fast over ~11.6 days
        (synced + 10**9 - 10**5, -100_000),
        (synced + 31_536_000_000, 12_345),  # a year at 12.345 ppm
        (synced + 777, 0),
        (synced - 5_000, 20_000),  # raw before the sync point
    ]
    got = run(
        f"print(json.dumps([clock.corrected(r, {synced}, p) for r, p in {cases!r}]"
        f" + [clock.corrected(123456, None, 50000)]))\n"
    )
    expected = [synced + (raw - synced) * 10**9 // (10**9 + ppb) for raw, ppb in cases]
    assert got == expected + [123456]
    assert got[0] == synced + 10**9 and got[1] == synced + 10**9


def test_a_clock_is_trusted_only_once_set_and_never_before_the_build_date() -> None:
    got = run(
        f"""\
b = Board({BUILD_MS} + 5000)
c = clock.Clock(b)
c.restore()
out = [c.trusted()]
c.set({BUILD_MS} + 1000)
out += [c.trusted(), b.t, c.synced_ms]
b.t = {BUILD_MS} - 1    # the board's clock fell back (an rp2 hard boot reads 2021)
out.append(c.trusted())
print(json.dumps(out))
"""
    )
    assert got == [False, True, BUILD_MS + 1000, BUILD_MS + 1000, False]


def test_a_battery_backed_rtc_is_trusted_unless_its_oscillator_stopped() -> None:
    good = datetime.datetime(2026, 11, 24, 9, 10, 11, tzinfo=datetime.UTC)
    good_ms = int(good.timestamp()) * 1000
    regs = [0x11, 0x10, 0x09, 0x02, 0x24, 0x11, 0x26] + [0] * 8 + [0x00] + [0] * 3
    stopped = list(regs)
    stopped[0x0F] = 0x80
    old = [0, 0, 0, 5, 0x01, 0x01, 0x21] + [0] * 13  # 2021-01-01, before the build date
    got = run(
        f"""\
out = []
for regs in ({regs!r}, {stopped!r}, {old!r}):
    b = Board(1000, ds3231.DS3231(I2C(regs)))
    c = clock.Clock(b)
    c.restore()
    out.append([c.trusted(), b.t])
b = Board(1000, None)
c = clock.Clock(b)
c.restore()
out.append([c.trusted(), b.t])
print(json.dumps(out))
"""
    )
    assert got == [[True, good_ms], [False, 1000], [False, 1000], [False, 1000]]


def test_ds3231_registers_match_the_datasheet_for_a_known_time() -> None:
    moment = datetime.datetime(2026, 11, 24, 9, 10, 11, tzinfo=datetime.UTC)
    ms = int(moment.timestamp()) * 1000 + 999  # the chip keeps whole seconds
    got = run(
        f"""\
bus = I2C([0] * 15 + [0x88] + [0] * 4)   # oscillator-stop flag set, as after battery loss
rtc = ds3231.DS3231(bus)
before = rtc.read_ms()
rtc.write_ms({ms})
print(json.dumps([before, list(bus.regs[0:7]), bus.regs[0x0F], rtc.read_ms()]))
"""
    )
    # 09:10:11, Tuesday (datasheet: 1..7, we count Monday = 1), the 24th, November, 2026
    assert got == [None, [0x11, 0x10, 0x09, 2, 0x24, 0x11, 0x26], 0x08, ms - 999]


def test_ds3231_round_trips_dates_like_cpython_datetime() -> None:
    rng = random.Random(3231)
    start = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    moments = [
        datetime.datetime(2000, 2, 29, 23, 59, 59, tzinfo=datetime.UTC),
        datetime.datetime(2024, 2, 29, 12, 0, 0, tzinfo=datetime.UTC),
        datetime.datetime(2099, 12, 31, 23, 59, 59, tzinfo=datetime.UTC),
        datetime.datetime(2100, 1, 1, 0, 0, 0, tzinfo=datetime.UTC),
        datetime.datetime(2100, 3, 1, 0, 0, 1, tzinfo=datetime.UTC),
    ] + [start + datetime.timedelta(seconds=rng.randrange(200 * 365 * 86400)) for _ in range(60)]
    stamps = [int(m.timestamp()) * 1000 for m in moments]
    got = run(
        f"""\
bus = I2C([0] * 20)
rtc = ds3231.DS3231(bus)
out = []
for ms in {stamps!r}:
    rtc.write_ms(ms)
    out.append([rtc.read_ms(), bus.regs[3], ds3231.civil_from_days(ms // 86400000)])
print(json.dumps(out))
"""
    )
    for (read, weekday, civil), moment, ms in zip(got, moments, stamps, strict=True):
        assert read == ms
        assert weekday == moment.isoweekday()
        assert civil == [moment.year, moment.month, moment.day]


def test_ds3231_reads_a_clock_left_in_12_hour_mode() -> None:
    # 11:05:00 PM on 2026-11-24, as another tool may have set it: hours = 0x40 | 0x20 | 0x11
    regs = [0x00, 0x05, 0x71, 2, 0x24, 0x11, 0x26] + [0] * 13
    got = run(f"print(json.dumps(ds3231.DS3231(I2C({regs!r})).read_ms()))\n")
    moment = datetime.datetime(2026, 11, 24, 23, 5, 0, tzinfo=datetime.UTC)
    assert got == int(moment.timestamp()) * 1000


def test_a_missing_ds3231_reads_as_untrusted_and_writes_do_not_raise() -> None:
    got = run(
        """\
rtc = ds3231.DS3231(I2C([0] * 20), address=0x57)
rtc.write_ms(1795000000000)
print(json.dumps(rtc.read_ms()))
"""
    )
    assert got is None


def test_the_time_object_reports_drift_in_ppm() -> None:
    got = run(
        """\
out = []
for ppb in (0, 12500, -3000, 1):
    c = clock.Clock(Board(1795000000000), ppb, None)
    out.append(c.describe())
print(json.dumps(out))
"""
    )
    assert [d["drift_ppm"] for d in got] == [0, 12.5, -3, 0.001]
    assert got[0] == {
        "time_ms": 1795000000000,
        "trusted": False,
        "drift_ppm": 0,
        "synced_ms": None,
    }
