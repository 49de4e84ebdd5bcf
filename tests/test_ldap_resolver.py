"""The LDAP / Active Directory resolver (docs/users.md) against a real OpenLDAP slapd
(tests/fixtures_ldap.py)."""

import subprocess

from tests.fixtures_ldap import PEOPLE_SEEDED, SERVICE_DN, SERVICE_PASSWORD, SUFFIX, LdapServer


def _search(server: LdapServer, *bind: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ldapsearch", "-x", "-H", server.url, *bind, "-LLL", "-b", SUFFIX, "(uid=alice)", "mail"],
        capture_output=True,
        text=True,
    )


def test_the_directory_answers_only_a_bound_client_and_survives_a_restart(
    ldap_server: LdapServer,
) -> None:
    anonymous = _search(ldap_server)
    assert "alice@example.org" not in anonymous.stdout
    bound = ("-D", SERVICE_DN, "-w", SERVICE_PASSWORD)
    assert f"mail: {PEOPLE_SEEDED[0].mail}" in _search(ldap_server, *bound).stdout
    ldap_server.stop()
    assert _search(ldap_server, *bound).returncode != 0
    ldap_server.start()
    assert f"mail: {PEOPLE_SEEDED[0].mail}" in _search(ldap_server, *bound).stdout
