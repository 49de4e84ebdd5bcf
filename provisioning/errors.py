"""The errors provisioning raises: each says what went wrong in one sentence a person can act on."""


class BaolingError(Exception):
    """Base of every provisioning error; the CLI shows its message as one line."""
