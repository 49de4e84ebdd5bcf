"""Provisioned on the simulator (real firmware), the screen shows oathtool's and pyotp's code."""

import pytest
from provisioning_sim import sim_token, wait_for_reference_code

from baoling.provisioning.keystore import KeyStore
from baoling.provisioning.profile import Profile
from baoling.provisioning.provision import provision
from baoling.provisioning.secrets import new_secret

# Each algorithm with each digits and each period at least once, leading zeros possible.
CASES = [
    ("sha1", 6, 30),
    ("sha1", 8, 60),
    ("sha256", 6, 60),
    ("sha256", 8, 30),
    ("sha512", 6, 30),
    ("sha512", 8, 60),
]


@pytest.fixture(scope="module")
def token(tmp_path_factory):
    with sim_token(tmp_path_factory.mktemp("sim") / "token") as sim_and_token:
        yield sim_and_token


@pytest.mark.parametrize(("algorithm", "digits", "period_s"), CASES)
def test_screen_code_matches_oathtool_and_pyotp(token, tmp_path, algorithm, digits, period_s):
    sim, tok = token
    profile = Profile(new_secret(algorithm), algorithm, digits, period_s, "alice", "ACME")
    provision(tok, profile, force=True, keys=KeyStore(tmp_path / "keys.json"))
    screen = wait_for_reference_code(sim, profile)
    assert (screen["label"], screen["period"]) == ("ACME:alice", period_s)
    assert len(screen["code"]) == digits
