"""The RADIUS configuration file and PIN hashes: what is accepted, and the exact error for each
bad setting (the CLI prints it as one line), a taken port included."""

import socket
import subprocess
import sys
import tomllib
from ipaddress import ip_network

import pytest

from baoling.verifier.radius import (
    Client,
    RadiusConfigError,
    User,
    hash_pin,
    load_config,
    parse_config,
)
from baoling.verifier.slow_hash import check_secret

GOOD = """
host = "0.0.0.0"
port = 1812

[clients."10.0.0.1"]
secret = "s3cret"

[clients.office]
address = "10.1.0.0/16"
secret = "office secret"
require_message_authenticator = false

[users."alice@example.com"]
token = "alice"
"""


def parse(text: str):
    return parse_config(tomllib.loads(text), "radius.toml")


def test_a_full_configuration_is_read():
    config = parse(GOOD)
    assert (config.host, config.port) == ("0.0.0.0", 1812)
    assert config.clients == {
        "10.0.0.1": Client("10.0.0.1", ip_network("10.0.0.1/32"), b"s3cret", True),
        "office": Client("office", ip_network("10.1.0.0/16"), b"office secret", False),
    }
    assert config.user("alice@example.com") == User("alice")


def test_message_authenticator_is_required_unless_a_client_opts_out():
    config = parse(GOOD)
    assert config.clients["10.0.0.1"].require_message_authenticator is True
    assert config.clients["office"].require_message_authenticator is False


@pytest.mark.parametrize(
    ("address", "client"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("10.1.200.3", "office"),
        ("10.1.0.9", "printers"),  # in office's /16 too: the longest prefix wins
        ("::ffff:10.0.0.1", "10.0.0.1"),  # an IPv4 client of a socket bound to '::'
        ("10.0.0.2", None),
        ("fe80::1%eth0", None),
    ],
)
def test_a_packet_source_finds_its_client(address, client):
    config = parse(GOOD + '[clients.printers]\naddress = "10.1.0.8/29"\nsecret = "p"\n')
    found = config.client_for(address)
    assert (found and found.name) == client


@pytest.mark.parametrize("address", ['"10.0.0.300"', '"10.1.0.1/16"', '"vpn.example.com"', "7"])
def test_a_client_address_that_is_not_an_address_or_network_is_refused(address):
    with pytest.raises(RadiusConfigError) as err:
        parse(GOOD.replace('address = "10.1.0.0/16"', f"address = {address}"))
    assert str(err.value) == (
        f"radius.toml: clients.'office': {tomllib.loads('a = ' + address)['a']!r} is not an IP "
        "address or network (such as 10.0.0.1 or 10.0.0.0/24; name the client by its "
        "address, or give it an address setting)"
    )


def test_a_client_named_without_an_address_is_refused():
    with pytest.raises(RadiusConfigError) as err:
        parse('[clients.vpn]\nsecret = "s"\n')
    assert str(err.value) == (
        "radius.toml: clients.'vpn': 'vpn' is not an IP address or network (such as 10.0.0.1 "
        "or 10.0.0.0/24; name the client by its address, or give it an address setting)"
    )


def test_two_clients_with_one_address_are_refused():
    with pytest.raises(RadiusConfigError) as err:
        parse(GOOD + '[clients.gateway]\naddress = "10.0.0.1/32"\nsecret = "s"\n')
    assert str(err.value) == (
        "radius.toml: clients '10.0.0.1' and 'gateway' both have the address 10.0.0.1/32"
    )


def test_require_message_authenticator_must_be_true_or_false():
    with pytest.raises(RadiusConfigError) as err:
        parse(GOOD.replace("= false", '= "no"'))
    assert str(err.value) == (
        "radius.toml: clients.'office'.require_message_authenticator must be true or false"
    )


def test_a_user_without_an_entry_names_its_token():
    assert parse(GOOD).user("bob") == User("bob")


def test_a_configuration_without_clients_is_refused():
    with pytest.raises(RadiusConfigError) as err:
        parse("port = 1812\n")
    assert str(err.value) == "radius.toml: no [clients] entry, so every request would be dropped"


def test_an_unknown_setting_is_named():
    with pytest.raises(RadiusConfigError) as err:
        parse(GOOD.replace("secret =", "secrett ="))
    assert str(err.value) == "radius.toml: clients.'10.0.0.1': unknown setting 'secrett'"


def test_a_port_out_of_range_is_refused():
    with pytest.raises(RadiusConfigError) as err:
        parse(GOOD.replace("port = 1812", "port = 70000"))
    assert str(err.value) == "radius.toml: port must be a number from 0 to 65535"


def test_an_empty_client_secret_is_refused():
    with pytest.raises(RadiusConfigError) as err:
        parse(GOOD.replace('secret = "s3cret"', 'secret = ""'))
    assert str(err.value) == "radius.toml: clients.'10.0.0.1'.secret must be non-empty text"


def test_a_pin_hash_not_made_by_radius_pin_is_refused():
    with pytest.raises(RadiusConfigError) as err:
        parse(GOOD + 'pin_hash = "1234"\n')
    assert str(err.value) == (
        "radius.toml: users.alice@example.com.pin_hash is not a hash made by "
        "'baoling verifier radius-pin'"
    )


def test_a_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(RadiusConfigError) as err:
        load_config(tmp_path / "nope.toml")
    assert str(err.value) == (
        f"cannot read the RADIUS configuration {tmp_path / 'nope.toml'}: No such file or directory"
    )


def test_a_file_that_is_not_toml_is_refused(tmp_path):
    path = tmp_path / "radius.toml"
    path.write_text("[clients\n")
    with pytest.raises(RadiusConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path} is not valid TOML: ")


def test_a_pin_hash_checks_its_pin_and_no_other():
    stored = hash_pin("4321")
    assert check_secret("4321", stored)
    assert not check_secret("1234", stored)


def test_two_hashes_of_one_pin_differ_by_their_salt():
    assert hash_pin("4321") != hash_pin("4321")


@pytest.mark.parametrize("pin", ["", "12", "1" * 65, "12\t34"])
def test_a_pin_outside_the_users_pin_rule_is_refused(pin):
    with pytest.raises(RadiusConfigError) as err:
        hash_pin(pin)
    assert str(err.value) == "the PIN must be 4 to 64 printable characters"


@pytest.mark.parametrize("reuse_address", [False, True], ids=["plain", "so_reuseaddr"])
def test_serve_on_a_taken_udp_port_exits_1_with_one_line(tmp_path, reuse_address):
    # The port is held by another socket of this test, plain or with SO_REUSEADDR as pyrad (or
    # a second Baoling before this check) binds; either way the verifier must not start.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, int(reuse_address))
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        config = tmp_path / "radius.toml"
        config.write_text(f'port = {port}\n[clients."127.0.0.1"]\nsecret = "s3cret"\n')
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "baoling.host_tools",
                "verifier",
                "--data-dir",
                str(tmp_path / "data"),
                "serve",
                "--http-port",
                "0",
                "--radius",
                "--radius-config",
                str(config),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert proc.stderr == (
        f"Error: cannot listen on udp 127.0.0.1:{port}: the port is already in use "
        "(is another RADIUS server running?)\n"
    )
