# The board runs main.py by name, so this file is deployed as source and compiled on the device
# at every boot; the token itself (app.py) is deployed as .mpy with the other modules, so no
# parse tree of it is ever built in the token's heap (docs/firmware-memory.md).
import app

app.main()
