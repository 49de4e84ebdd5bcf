# Maxim DS3231 battery-backed real-time clock on I2C, as the board interface's hw.rtc:
# read_ms() -> UTC ms since 1970, or None when the oscillator stopped (battery lost: the time
# cannot be trusted); write_ms(ms) sets it and clears the stop flag. The chip keeps UTC in its
# 24-hour registers, never local time. Dates are converted with integer civil-calendar
# arithmetic (days from 1970-01-01), so the port's own epoch (2000 on esp32) does not matter.
from micropython import const

ADDRESS = const(0x68)  # the DS3231's fixed I2C address
_REG_TIME = const(0x00)  # seconds, minutes, hours, weekday, date, month|century, year (BCD)
_REG_STATUS = const(0x0F)  # bit 7 OSF: the oscillator stopped since the flag was cleared
_OSF = const(0x80)
_CENTURY = const(0x80)  # month register bit: year is 2100 + year register
_HOUR_12 = const(0x40)  # hours register bit: 12-hour mode (bit 5 then means PM)
_DAY_MS = const(86400000)


def days_from_civil(year, month, day):
    """Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    year -= 1 if month <= 2 else 0
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(days):
    """(year, month, day) of a day number from 1970-01-01."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (1 if month <= 2 else 0), month, day


def _bcd(byte):
    return (byte >> 4) * 10 + (byte & 0x0F)


def _to_bcd(value):
    return (value // 10) << 4 | value % 10


class DS3231:
    """The chip on `i2c` (a machine.I2C or SoftI2C)."""

    def __init__(self, i2c, address=ADDRESS):
        self._i2c = i2c
        self._address = address
        self._regs = bytearray(7)
        self._one = bytearray(1)

    def read_ms(self):
        """UTC ms since 1970, or None if the oscillator stopped or the chip does not answer."""
        try:
            self._i2c.readfrom_mem_into(self._address, _REG_STATUS, self._one)
            if self._one[0] & _OSF:
                return None
            self._i2c.readfrom_mem_into(self._address, _REG_TIME, self._regs)
        except OSError:
            return None
        r = self._regs
        hours = r[2]
        if hours & _HOUR_12:
            hour = _bcd(hours & 0x1F) % 12 + (12 if hours & 0x20 else 0)
        else:
            hour = _bcd(hours & 0x3F)
        year = 2000 + _bcd(r[6]) + (100 if r[5] & _CENTURY else 0)
        days = days_from_civil(year, _bcd(r[5] & 0x1F), _bcd(r[4] & 0x3F))
        seconds = hour * 3600 + _bcd(r[1] & 0x7F) * 60 + _bcd(r[0] & 0x7F)
        return days * _DAY_MS + seconds * 1000

    def write_ms(self, unix_ms):
        """Set the chip to unix_ms (whole seconds) in 24-hour mode and clear the stop flag."""
        days = unix_ms // _DAY_MS
        seconds = unix_ms % _DAY_MS // 1000
        year, month, day = civil_from_days(days)
        r = self._regs
        r[0] = _to_bcd(seconds % 60)
        r[1] = _to_bcd(seconds // 60 % 60)
        r[2] = _to_bcd(seconds // 3600)
        r[3] = (days + 3) % 7 + 1  # 1 = Monday (1970-01-01 was a Thursday)
        r[4] = _to_bcd(day)
        r[5] = _to_bcd(month) | (_CENTURY if year >= 2100 else 0)
        r[6] = _to_bcd(year % 100)
        try:
            self._i2c.writeto_mem(self._address, _REG_TIME, r)
            self._i2c.readfrom_mem_into(self._address, _REG_STATUS, self._one)
            self._one[0] &= ~_OSF & 0xFF
            self._i2c.writeto_mem(self._address, _REG_STATUS, self._one)
        except OSError:
            pass  # no chip: the running clock is still set; the next boot will not trust it
