"""A stand-in firmware for the simulator launcher's own tests (runs under MicroPython).

It answers one command per line with "= <answer>", so a test can read what the sim board
sees (button, clocks, unique id) and make it draw, without depending on the real firmware.
Ctrl-C ends it (to the REPL), as the real firmware does before the production lock.
"""

import asyncio  # noqa: F401 - frozen into the unix port: the launcher's module path must keep it
import select
import sys

import board

hw = board.make()


def answer(words):
    op = words[0]
    if op == b"echo":
        return b" ".join(words[1:]).decode()
    if op == b"button":
        return hw.button.value()
    if op == b"now":
        return hw.now_ms()
    if op == b"set":
        hw.set_now_ms(int(words[1]))
        return "ok"
    if op == b"rtc":
        return hw.rtc.read_ms()
    if op == b"rtcw":
        hw.rtc.write_ms(int(words[1]))
        return "ok"
    if op == b"uid":
        return hw.unique_id().hex()
    if op == b"draw":
        hw.display.fill(0)
        hw.display.fill_rect(0, 0, 8, 8, 1)
        hw.display.show()
        hw.publish({"screen": "test", "n": int(words[1])})
        return "ok"
    if op == b"off":
        hw.display.poweroff()
        return "ok"
    return "?"


def serve():
    poll = select.poll()
    poll.register(sys.stdin, select.POLLIN)
    line = b""
    while True:
        if not poll.poll(1000):
            continue
        byte = sys.stdin.buffer.read(1)
        if byte == b"\x03":
            raise KeyboardInterrupt
        if byte == b"\n":
            print("=", answer(line.split()))
            line = b""
        else:
            line += byte


print("boot", hw.name)
serve()
