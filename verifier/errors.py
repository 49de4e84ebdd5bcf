"""The errors the verifier raises to administrators and integrators (never to the code's caller)."""


class VerifierError(Exception):
    """Base of every verifier error; the CLI and the HTTP API show its message."""
