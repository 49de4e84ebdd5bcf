"""Discovery: which USB serial ports are worth an `info` probe, by the USB ids boards report.

The ids are the vendors' (usb.ids): Raspberry Pi 2e8a, MicroPython f055, Espressif 303a,
Silicon Labs CP210x 10c4:ea60, WCH CH340 1a86:7523 and CH9102 1a86:55d4, FTDI 0403:6001/6015.
"""

from serial.tools.list_ports_common import ListPortInfo

from baoling.provisioning.discovery import candidate_ports, find_tokens


def usb_port(device: str, vid: int | None, pid: int | None) -> ListPortInfo:
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid = vid, pid
    return info


def test_boards_and_bridges_are_candidates_other_devices_are_not():
    listed = [
        usb_port("/dev/ttyACM0", 0x2E8A, 0x0005),  # Pico running MicroPython
        usb_port("/dev/ttyACM1", 0x303A, 0x1001),  # ESP32-S3 native USB
        usb_port("/dev/ttyUSB0", 0x10C4, 0xEA60),  # ESP32 DevKit's CP2102
        usb_port("/dev/ttyUSB1", 0x1A86, 0x7523),  # CH340
        usb_port("/dev/ttyUSB2", 0x0403, 0x6001),  # FT232R
        usb_port("/dev/ttyUSB3", 0x1A86, 0x5523),  # a WCH product that is not a serial bridge
        usb_port("/dev/ttyACM2", 0x1546, 0x01A8),  # a u-blox GPS receiver
        usb_port("/dev/ttyS0", None, None),  # a motherboard UART
    ]
    assert candidate_ports(listed) == [
        "/dev/ttyACM0",
        "/dev/ttyACM1",
        "/dev/ttyUSB0",
        "/dev/ttyUSB1",
        "/dev/ttyUSB2",
    ]


def test_a_named_port_that_is_not_there_is_reported_not_raised():
    [found] = find_tokens(["/dev/baoling-no-such-port"])
    assert found.info is None
    assert found.problem.startswith("There is no serial port /dev/baoling-no-such-port.")
