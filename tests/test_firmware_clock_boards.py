"""The Pico and ESP32 board descriptions, wired as docs/hardware.md says, under MicroPython.

No Pico or ESP32 exists here, so `machine` and micropython-lib's `ssd1306` are replaced by
stand-ins that record how the board uses them (the firmware's own ds3231 driver is real).
Sources of truth: the pin tables of docs/hardware.md and the board interface of
firmware/machineboard.py (button value() is 1 while pressed; now_ms is UTC ms since 1970;
machine.RTC.datetime takes (year, month, day, weekday 0=Monday, hour, minute, second,
subsecond)).
"""

import datetime
import json

import pytest

from tests.micropython_runner import run_micropython

_STANDINS = """\
import sys, json

class Pin:
    IN = 1
    PULL_UP = 2
    levels = {{}}
    def __init__(self, number, mode=None, pull=None):
        self.number = number
        self.mode = mode
        self.pull = pull
    IRQ_FALLING = 4
    wakes = []
    def value(self):
        return Pin.levels.get(self.number, 1)
    def irq(self, handler=None, trigger=None):  # the RP2040 port's signature: no wake=
        Pin.wakes.append([self.number, trigger == Pin.IRQ_FALLING])

class I2C:
    made = []
    def __init__(self, bus, sda, scl, freq):
        I2C.made.append([bus, sda.number, scl.number, freq])
    def scan(self):
        return {devices!r}

class RTC:
    set_to = None
    def datetime(self, t):
        RTC.set_to = list(t)

class Machine:
    pass

machine = Machine()
machine.Pin = Pin
machine.I2C = I2C
machine.RTC = RTC
machine.unique_id = lambda: b"\\xe6\\x61\\x38\\x52\\x83\\x49\\x2a\\x2c"
sys.modules["machine"] = machine

class SSD1306_I2C:
    def __init__(self, width, height, i2c, addr=0x3C):
        self.args = [width, height, addr]

class Driver:
    pass

ssd1306 = Driver()
ssd1306.SSD1306_I2C = SSD1306_I2C
sys.modules["ssd1306"] = ssd1306
sys.path.append({boards!r})
"""


def run_board(name: str, devices: list[int], body: str) -> dict:
    from tests.micropython_runner import FIRMWARE_DIR

    code = _STANDINS.format(devices=devices, boards=str(FIRMWARE_DIR / "boards"))
    code += f"import {name}\nhw = {name}.make()\n" + body
    return json.loads(run_micropython(code).strip().splitlines()[-1])


REPORT = """\
out = {
    "name": hw.name, "i2c": I2C.made, "display": hw.display.args,
    "rtc": hw.rtc is not None, "storage": hw.storage_dir, "sleep_s": hw.sleep_s,
    "uid": hw.unique_id().hex(), "wake": Pin.wakes,
}
Pin.levels[BUTTON] = 1
out["released"] = hw.button.value()
Pin.levels[BUTTON] = 0
out["pressed"] = hw.button.value()
hw.publish({"screen": "code"})
print(json.dumps(out))
"""


@pytest.mark.parametrize(
    ("name", "i2c", "button", "wake"),
    # A Pico senses USB power (VBUS, GPIO24), so a press on the button's falling edge must end
    # a light sleep; an ESP32 without a sense pin never sleeps and asks for no wake-up.
    [("pico", [0, 4, 5, 400000], 15, [[15, True]]), ("esp32", [0, 21, 22, 400000], 0, [])],
)
def test_board_wiring_matches_the_hardware_guide(
    name: str, i2c: list, button: int, wake: list
) -> None:
    with_rtc = run_board(name, [0x3C, 0x68], f"BUTTON = {button}\n" + REPORT)
    assert with_rtc == {
        "name": name,
        "i2c": [i2c],
        "display": [128, 64, 0x3C],
        "rtc": True,
        "storage": "/",
        "sleep_s": 30,
        "uid": "e661385283492a2c",
        "released": 0,
        "pressed": 1,
        "wake": wake,
    }
    without = run_board(name, [0x3C], f"BUTTON = {button}\n" + REPORT)
    assert without["rtc"] is False


def test_setting_the_clock_gives_machine_rtc_the_next_whole_second() -> None:
    moment = datetime.datetime(2026, 11, 24, 9, 10, 11, 250000, tzinfo=datetime.UTC)
    ms = int(moment.timestamp() * 1000)
    got = run_board(
        "pico",
        [0x3C],
        f"import time\nt0 = time.ticks_ms()\nhw.set_now_ms({ms})\n"
        "print(json.dumps([RTC.set_to, time.ticks_diff(time.ticks_ms(), t0)]))\n",
    )
    # 09:10:11.250 -> wait 750 ms, then 09:10:12 on a Tuesday (weekday 1)
    assert got[0] == [2026, 11, 24, 1, 9, 10, 12, 0]
    assert 700 <= got[1] < 1500


def test_now_ms_is_utc_milliseconds_since_1970() -> None:
    import time

    before = int(time.time() * 1000)
    got = run_board("esp32", [0x3C], "print(json.dumps(hw.now_ms()))\n")
    assert before - 1000 <= got <= int(time.time() * 1000) + 1000
