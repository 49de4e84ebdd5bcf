"""The errors the verifier raises to administrators and integrators (never to the code's caller)."""


class VerifierError(Exception):
    """Base of every verifier error; the CLI and the HTTP API show its message."""


class UnknownToken(VerifierError):
    """No token with this id is enrolled."""


class TokenExists(VerifierError):
    """Enrolment or import would overwrite a token that is already enrolled."""


class UnknownEvent(VerifierError):
    """No event with this id is in the outbox."""


class UnknownUser(VerifierError):
    """No user of this name is known in its realm (administration; a validation only rejects)."""


class UserExists(VerifierError):
    """Adding a user whose name is taken in its realm (users are deactivated, never deleted)."""


class AssignmentConflict(VerifierError):
    """A token assignment that the current state forbids: the token already has a user, has
    none to unassign, or the user is deactivated."""


class PossessionNotProven(VerifierError):
    """Assigning a token by serial without a valid code from it (proof of possession), or with
    a code it refused; nothing was assigned (docs/users.md)."""


class LifecycleConflict(VerifierError):
    """A lifecycle step the current state forbids: reactivating an active user, activating a
    token that is not a spare, backup codes for a deactivated user (docs/users.md)."""


class DirectoryError(VerifierError):
    """A realm's directory could not say who a user is: unreachable, the bind refused, TLS
    failed, or no single entry (the message is for administrators and never holds the bind
    password; a validation only rejects)."""


class InvalidRequest(VerifierError):
    """A parameter is out of range or malformed (token id, algorithm, digits, period, secret)."""


class MasterKeyError(VerifierError):
    """The master key file is missing, unreadable, malformed, or not the key of this database."""


class StoreError(VerifierError):
    """The database cannot be used: unreachable, or its schema is newer than this software."""


class PSKCImportError(VerifierError):
    """A PSKC file is corrupt, wrongly keyed, or holds something the verifier cannot interpret;
    nothing from it was imported."""


class BulkImportError(VerifierError):
    """A bulk import file (CSV, otpauth URIs, PSKC with a user map) has a line or key the
    verifier refuses, named by its number; nothing from it was imported."""


class AuditError(VerifierError):
    """The audit chain is broken, so an operation that needs it whole (archiving) was refused."""


class DeliveryFailed(Exception):
    """One attempt to deliver an event through a channel failed (verifier/delivery.py retries
    it): `reason` is a short line for the outbox, never a secret; `retry` False when the
    receiver refused the event for good."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.reason, self.retry = reason, retry
