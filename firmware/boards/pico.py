# Board description: Raspberry Pi Pico / Pico W (RP2040). Deployed as /board.py.
# SSD1306 128x64 OLED and optional DS3231 on I2C0 (GP4 = SDA, GP5 = SCL), push button from GP15
# to GND, and an optional second one from GP14 to GND (set _BUTTON2 = 14 when it is fitted).
# Wiring and parts: docs/hardware.md.
from micropython import const

from machineboard import MachineBoard

_I2C_BUS = const(0)
_SDA = const(4)  # GP4, pin 6
_SCL = const(5)  # GP5, pin 7
_BUTTON = const(15)  # GP15, pin 20
_BUTTON2 = None  # one button; 14 (GP14, pin 19) with a second one wired
_SLEEP_S = const(30)  # display off after 30 s without a press or a request
# VBUS sense: GPIO24 reads high while USB power is there; the board light-sleeps only without
# it. A Pico W reads VBUS through its wireless chip instead (pin "WL_GPIO2"): make() picks it.
_USB_SENSE = 24


def make():
    import sys

    usb = "WL_GPIO2" if "Pico W" in sys.implementation._machine else _USB_SENSE
    return MachineBoard("pico", _I2C_BUS, _SDA, _SCL, _BUTTON, _SLEEP_S, _BUTTON2, usb)
