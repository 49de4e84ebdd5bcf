# Board description: ESP32 dev boards (ESP32-WROOM/WROVER). Deployed as /board.py.
# SSD1306 128x64 OLED and optional DS3231 on I2C0 (GPIO21 = SDA, GPIO22 = SCL); the button is
# the board's BOOT button on GPIO0 (to GND), or one wired the same way, and an optional second
# one from GPIO4 to GND (set _BUTTON2 = 4 when it is fitted). The port counts time
# from 2000; machineboard converts to 1970. Wiring and parts: docs/hardware.md.
from micropython import const

from machineboard import MachineBoard

_I2C_BUS = const(0)
_SDA = const(21)
_SCL = const(22)
_BUTTON = const(0)  # BOOT
_BUTTON2 = None  # one button; 4 (GPIO4) with a second one wired
_SLEEP_S = const(30)  # display off after 30 s without a press or a request
# A pin that reads high while USB power is there (the dev board's 5 V through a divider, e.g.
# 100k/100k to GPIO34): None, the default, means never light-sleep (docs/hardware.md).
_USB_SENSE = None


def make():
    return MachineBoard("esp32", _I2C_BUS, _SDA, _SCL, _BUTTON, _SLEEP_S, _BUTTON2, _USB_SENSE)
