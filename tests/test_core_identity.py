"""baoling.core.identity: the `serial-slot` token id and what a token id may hold."""

import pytest

from baoling.core.errors import CoreError
from baoling.core.identity import check_token_id, split_token_id, token_id

RULE = (
    "a token id is 1 to 128 characters: letters, digits and . _ : @ + -, "
    "starting with a letter or digit"
)


def test_a_slot_is_named_serial_dash_slot():
    assert token_id("e6614c2a01", 3) == "e6614c2a01-3"


@pytest.mark.parametrize("name", ["e6614c2a01-0", "a", "x" * 128, "alice@example.org", "A.b_c:d+e"])
def test_a_good_token_id_passes(name):
    assert check_token_id(name) == name


@pytest.mark.parametrize(("serial", "slot"), [("e6614c2a01", 0), ("SN-100", 3), ("a", 12)])
def test_split_token_id_is_the_inverse_of_token_id(serial, slot):
    assert split_token_id(token_id(serial, slot)) == (serial, slot)


@pytest.mark.parametrize("name", ["", "-a", "a b", "x" * 129, "é", "a/b", None])
def test_a_bad_token_id_is_refused_with_the_rule(name):
    with pytest.raises(CoreError) as caught:
        check_token_id(name)
    assert str(caught.value) == RULE


def test_a_serial_that_makes_a_bad_id_is_refused():
    with pytest.raises(CoreError) as caught:
        token_id("my token", 0)
    assert str(caught.value) == RULE


@pytest.mark.parametrize("name", ["alice", "alice-", "-0", "alice-x", "alice-٣"])
def test_split_refuses_what_is_not_serial_dash_slot(name):
    with pytest.raises(CoreError) as caught:
        split_token_id(name)
    assert str(caught.value) == f"{name!r} is not a serial-slot token id"
