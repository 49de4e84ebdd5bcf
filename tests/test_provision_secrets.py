"""Generated secrets: as long as the HMAC output (RFC 4226 section 4, RFC 6238 section 5.1)."""

import pytest

from baoling.provisioning.errors import BadProfile
from baoling.provisioning.secrets import new_secret


@pytest.mark.parametrize(("algorithm", "length"), [("sha1", 20), ("sha256", 32), ("sha512", 64)])
def test_secret_is_as_long_as_the_hmac_output(algorithm, length):
    assert len(new_secret(algorithm)) == length


def test_secrets_differ():
    assert len({new_secret("sha1") for _ in range(100)}) == 100


def test_unknown_algorithm_is_refused():
    with pytest.raises(BadProfile) as caught:
        new_secret("md5")
    assert str(caught.value) == "algorithm must be sha1, sha256 or sha512, not 'md5'"
