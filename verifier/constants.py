"""Every number the verifier's OTP code and engine rely on, once, with its unit in its name.

The OTP parameter limits (algorithms, digits, period, secret length) are the shared core's:
core/limits.py. Docs and docstrings name these constants instead of repeating their values.
"""

# Engine policy defaults (docs/engine.md).
DEFAULT_WINDOW_STEPS = 1
# Twenty 30-second steps: ten minutes either side at the default period.
DEFAULT_RESYNC_WINDOW_STEPS = 20
LOCKOUT_AFTER_FAILS = 10
# HOTP (counter) tokens: the codes checked from the expected one on (RFC 4226 section 7.4's
# look-ahead window s), and the wider look-ahead a resync's two consecutive codes are sought
# in (a token pressed that often unseen; two codes in a row cannot be guessed, docs/engine.md).
DEFAULT_HOTP_WINDOW = 10
DEFAULT_HOTP_RESYNC_WINDOW = 1000
# The largest HOTP counter the verifier keeps: its store's signed 64-bit column. RFC 4226 allows
# 2**64 - 1 (MAX_COUNTER in core/limits.py); a press a second reaches neither in 290 billion years.
MAX_HOTP_COUNTER = 2**63 - 1
DEFAULT_LOCKOUT_TZ = "UTC"

# Drift learning (verifier/drift.py).
# Observations kept per token: enough to fit a rate over years of use, small in a database row.
DRIFT_HISTORY_LEN = 16
# The offset now is the median of this many newest observations, each carried to now by the rate.
DRIFT_RECENT_OBSERVATIONS = 5
# Two observations closer in time than this say little about the rate (each carries up to half
# a step of quantization, plus the user's typing delay): only pairs this far apart are fitted.
MIN_RATE_SPAN_S = 7 * 24 * 3600
# A rate beyond this is not a crystal error (boards drift 10-30 ppm) but a broken clock or a
# bad observation; estimates are clamped to it.
MAX_DRIFT_RATE_PPM = 200.0
# One accepted code moves the predicted offset by at most this many steps, so a stale code at
# the edge of a wide window cannot drag the window far; resync is exempt (two consecutive codes).
MAX_DRIFT_UPDATE_STEPS = 1.0
# How much longer one use's typing delay (reading a code, then sending it) can be than another's:
# with half a step of quantization, how far an observation can be from the clock's line.
TYPING_DELAY_SPREAD_S = 30.0
# The reach (docs/engine.md): a token's crystal is taken to be at most this far off, so its
# clock can have drifted this much per second since it was last seen; 0 turns the reach off.
DEFAULT_DRIFT_BOUND_PPM = 50.0
# However long a token was unused, its codes are looked for at most this many steps from the
# predicted one (each step more is one more code a guess can hit).
DEFAULT_MAX_WINDOW_STEPS = 6

# The most audit rows one listing returns (`GET /v1/audit?limit=`, `baoling verifier audit
# --limit`): a page a person or a script reads, within what the store's integers hold.
MAX_AUDIT_LIMIT = 10_000

# How far apart the clocks of verifier nodes on one store may be (NTP keeps them within a
# second): a lock another node set from a clock ahead by up to this much still holds here
# (engine.Policy.locked). Kerberos allows the same five minutes.
MAX_CLOCK_SKEW_S = 300

# Below this much free space on the data folder's volume, /readyz says not ready: writes there
# (SQLite's, the audit anchors') are about to fail, and validations with them (503).
MIN_FREE_DATA_BYTES = 1024 * 1024
