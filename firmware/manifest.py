# MicroPython manifest for a frozen build: the token's modules compiled into the firmware image,
# so they run from flash and their bytecode takes no RAM (docs/hardware.md, "A frozen
# firmware"). Read by MicroPython's build tools, never imported by the token.
#
# main.py and board.py stay files on the board's filesystem: the board runs main.py by name,
# and board.py (a copy of boards/<board>.py) holds the pins, which a builder may change without
# rebuilding. Files on the filesystem come before frozen modules on sys.path, so a later
# `baoling token flash` replaces the frozen modules as a whole.

# The port's own frozen modules: its start-up code mounts the filesystem.
include("$(PORT_DIR)/boards/manifest.py")

# micropython-lib's SSD1306 driver (`baoling token flash` installs it in /lib instead).
require("ssd1306")

module("admin.py")
module("app.py")
module("buttons.py")
module("clock.py")
module("clockset.py")
module("device.py")
module("display.py")
module("ds3231.py")
module("labels.py")
module("link.py")
module("machineboard.py")
module("mdhash.py")
module("menu.py")
module("otp.py")
module("pin.py")
module("protocol.py")
module("sha1.py")
module("sha256.py")
module("sha512.py")
module("store.py")
