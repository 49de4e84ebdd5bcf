# The board runs main.py by name, so this file is deployed as source and compiled on the device
# at every boot; the token itself (app.py) is deployed as .mpy with the other modules, so no
# parse tree of it is ever built in the token's heap (docs/firmware-memory.md).
# The modules load one at a time with a collection after each, so the garbage one load leaves
# between its long-lived objects is freed before the next load fills it: the resident code
# packs low and the modules loaded per request (clockset, admin, sha512) find free runs long
# enough (without this the token needs 66 KB of heap instead of 64 KB, docs/firmware-memory.md).
import gc

for name in ("protocol", "store", "clock", "device", "link", "buttons", "display", "app"):
    __import__(name)
    gc.collect()
import app

app.main()
