"""The errors provisioning raises: each says what went wrong in one sentence a person can act on."""


class BaolingError(Exception):
    """Base of every provisioning error; the CLI shows its message as one line."""


class NoSuchPort(BaolingError):
    """Raised when the serial port named with --port does not exist."""


class NotASerialPort(BaolingError):
    """Raised when the path named with --port exists but is a file, a folder or another device."""


class PortBusy(BaolingError):
    """Raised when the serial port exists but another program holds it open."""


class PortDenied(BaolingError):
    """Raised when the operating system refuses this user access to the serial port."""


class NotAToken(BaolingError):
    """Raised when a port answers, but not with the Baoling protocol (another device, a REPL)."""


class TokenError(BaolingError):
    """Raised when the token answers a request with an error; `code` is the device's error code."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class TokenTimeout(TokenError):
    """Raised when the token does not answer a request within the timeout."""


class TokenLocked(TokenError):
    """Raised when an operation needs a token in development mode but the token is locked."""


class SlotOccupied(TokenError):
    """Raised when writing a profile into a slot that already holds one and may not be replaced."""


class ProveMismatch(TokenError):
    """Raised when the token's prove answer does not match the secret the host wrote."""


class AdminKeyMissing(BaolingError):
    """Raised when a locked token needs its admin key and the host key file has none for it."""


class KeyFileError(BaolingError):
    """Raised when the admin key file is unreadable, malformed or readable by other users."""


class BadURI(BaolingError):
    """Raised when an otpauth:// URI is malformed or asks for something a token cannot do."""


class BadSecret(BaolingError):
    """Raised when a secret given by the user is not valid base32 or has no bytes."""


class BadProfile(BaolingError):
    """Raised when an algorithm, digits, period, label or slot is outside what a token accepts."""


class BadPin(BaolingError):
    """Raised when a device PIN typed here is not 4 to 8 digits (checked before the token)."""


class ExportError(BaolingError):
    """Raised when a PSKC export is asked for with an incomplete protection setup."""


class EnrolError(BaolingError):
    """Raised when enrolment into a verifier over HTTP fails (unreachable, refused, rejected)."""


class BadManifest(BaolingError):
    """Raised when a batch manifest or results file cannot be read as the batch expects."""


class FlashError(BaolingError):
    """Raised when compiling or copying the firmware to a board fails."""
