"""A token that stored a different secret than the host sent: the prove step catches it and
nothing is registered anywhere (issue 5: "nothing is registered unless prove matched")."""

import pytest
from provisioning_sim import StoresAnotherSecret, sim_token

from baoling.provisioning.entry import Entry
from baoling.provisioning.errors import ProveMismatch
from baoling.provisioning.keystore import KeyStore
from baoling.provisioning.profile import Profile
from baoling.provisioning.provision import provision
from baoling.provisioning.pskc_export import PskcFile


class Registered:
    """A registration target that records what reached it."""

    def __init__(self) -> None:
        self.checked: list[str] = []
        self.registered: list[Entry] = []

    def check(self, token_id: str) -> None:
        self.checked.append(token_id)

    def register(self, entry: Entry) -> None:
        self.registered.append(entry)


def test_mismatched_prove_registers_nothing_and_says_so(tmp_path):
    with sim_token(tmp_path / "t") as (sim, honest):
        tok = StoresAnotherSecret(honest.link)
        pskc = PskcFile(tmp_path / "out.pskc")
        target = Registered()
        keys = KeyStore(tmp_path / "keys.json")
        with pytest.raises(ProveMismatch) as caught:
            provision(
                tok,
                Profile(bytes(range(20)), label="alice"),
                lock=True,
                keys=keys,
                registrars=[target, pskc],
            )
        assert str(caught.value) == (
            f"Slot 0 of the token on {sim.port} does not hold that secret (its prove answer does "
            "not match). Nothing was registered: provision it again, or wipe the token."
        )
        assert target.checked == [f"{tok.serial}-0"] and target.registered == []
        assert not pskc.path.exists()
        assert not keys.path.exists()
        assert tok.refresh()["state"] == "provisioned"  # and not locked
