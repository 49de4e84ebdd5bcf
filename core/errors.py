"""The one error the shared core raises; each user turns it into its own (BadSecret,
InvalidRequest, ...) and shows the message as it is."""


class CoreError(ValueError):
    """Input breaks one of the core's rules. The message names the rule and never repeats a
    secret: base32 errors give positions, not characters."""
