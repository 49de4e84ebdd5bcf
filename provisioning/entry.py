"""One provisioned slot: which token (serial), which slot, and the profile written there.

Batch results, PSKC files and verifier enrolment all name it by its token id (core/identity.py).
"""

from dataclasses import dataclass
from typing import Any

from baoling.core.identity import token_id
from baoling.provisioning.profile import Profile


@dataclass(frozen=True)
class Entry:
    """One provisioned key: the token's serial, the slot it sits in and the profile written
    there."""

    serial: str
    slot: int
    profile: Profile
    # The token asks for its device PIN before a code (docs/protocol.md pin.set): the verifier
    # records it (docs/verifier.md, amr). Unknown for an entry read back from a PSKC file.
    device_pin: bool = False

    @property
    def key_id(self) -> str:
        """The token id (`serial-slot`): the PSKC key id and the verifier's name for it."""
        return token_id(self.serial, self.slot)

    def as_json(self) -> dict[str, Any]:
        """Where and what, without the secret: for --json output and batch results."""
        profile = self.profile
        return {
            "serial": self.serial,
            "slot": self.slot,
            "token_id": self.key_id,
            "label": profile.label,
            "issuer": profile.issuer,
            "algorithm": profile.algorithm,
            "digits": profile.digits,
            "period": profile.period_s,
        }
