# What the real boards (Pico, ESP32) share behind the board interface (name, unique_id(),
# now_ms(), set_now_ms(), rtc, button, button2, display, publish(), doze(); boards/sim.py is
# the other one): an SSD1306 OLED and an optional DS3231 on one I2C bus, one or two push buttons to
# ground (button2 None with one), the port's own RTC as the running clock, and the flash root
# as the store's folder. A board description (boards/pico.py, boards/esp32.py) only names its
# pins.
import time

from micropython import const

from otp import EPOCH_OFFSET_S

_OLED_ADDR = const(0x3C)  # SSD1306 I2C address (0x3D on some modules: see docs/hardware.md)
_WIDTH = const(128)
_HEIGHT = const(64)
_I2C_HZ = const(400000)


class PullUpButton:
    """A button from the pin to ground with the internal pull-up: pressed reads 0."""

    def __init__(self, pin_number):
        from machine import Pin

        self._pin = Pin(pin_number, Pin.IN, Pin.PULL_UP)

    def value(self):
        return 0 if self._pin.value() else 1


def _wake_on_press(number):
    """Ask the port to end a light sleep when the button goes down (pressed reads low): an ESP32
    takes wake=machine.SLEEP; on an RP2040 an enabled pin interrupt ends the sleep's wait."""
    import machine
    from machine import Pin

    pin = Pin(number, Pin.IN, Pin.PULL_UP)
    try:
        pin.irq(trigger=Pin.IRQ_FALLING, wake=machine.SLEEP)
    except (TypeError, AttributeError, ValueError):
        pin.irq(handler=_ignore, trigger=Pin.IRQ_FALLING)


def _ignore(_pin):
    """The interrupt only wakes the board; the loop reads the button itself."""


class MachineBoard:
    """A MicroPython board with the parts of docs/hardware.md on I2C bus `bus`."""

    storage_dir = "/"

    def __init__(self, name, bus, sda, scl, button, sleep_s, button2=None, usb_sense=None):
        from machine import I2C, RTC, Pin

        import ds3231
        import ssd1306  # micropython-lib's driver, in /lib

        self.name = name
        self.sleep_s = sleep_s  # the display sleeps after this many idle seconds
        i2c = I2C(bus, sda=Pin(sda), scl=Pin(scl), freq=_I2C_HZ)
        found = i2c.scan()
        self.display = ssd1306.SSD1306_I2C(_WIDTH, _HEIGHT, i2c, addr=_OLED_ADDR)
        self.button = PullUpButton(button)
        self.button2 = None if button2 is None else PullUpButton(button2)
        self.rtc = ds3231.DS3231(i2c) if ds3231.ADDRESS in found else None
        self._clock = RTC()
        # High while USB power is there (VBUS); None: unknown, so never light-sleep.
        self._usb = None if usb_sense is None else Pin(usb_sense, Pin.IN)
        if self._usb is not None:
            _wake_on_press(button)
            if button2 is not None:
                _wake_on_press(button2)

    def doze(self, ms):
        """Light-sleep up to ms, or until a press, when not on USB power; False (awake) on USB
        or without a sense pin: a light sleep stops a Pico's USB device and loses an ESP32's
        serial bytes (docs/hardware.md). The port's RTC, the running clock, keeps counting."""
        if self._usb is None or self._usb.value():
            return False
        import machine

        machine.lightsleep(ms)
        return True

    def unique_id(self):
        from machine import unique_id

        return unique_id()

    def now_ms(self):
        """UTC ms since 1970 from the port's clock (esp32 counts from 2000: converted here)."""
        return time.time_ns() // 1000000 + EPOCH_OFFSET_S * 1000

    def set_now_ms(self, ms):
        """Set the port's clock; it holds whole seconds, so wait for the next one to start."""
        wait = 1000 - ms % 1000
        time.sleep_ms(wait)
        t = time.gmtime((ms + wait) // 1000 - EPOCH_OFFSET_S)
        # machine.RTC.datetime: (year, month, day, weekday 0=Monday, hour, minute, second, sub)
        self._clock.datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0))

    def publish(self, description):
        """Only the simulator reports its screen."""
