"""A real OpenLDAP server (Debian's `slapd`) for the LDAP resolver's tests.

Each test that asks for `ldap_server` gets its own throwaway slapd: a generated slapd.conf
(mdb backend, suffix dc=example,dc=org) and database in a temporary folder, listening on
127.0.0.1 at a free port, seeded with a service account the verifier binds as and a few people
(inetOrgPerson). It offers StartTLS with a certificate for 127.0.0.1 from a throwaway CA
(`ca_file`), which no system trusts. It can be stopped and started again on the same port and
data, as a directory that goes down and comes back; it is stopped (SIGTERM, then wait) when the
test ends.

Entries are added and deleted with OpenLDAP's own ldapadd/ldapdelete as the directory's
manager, so the fixture does not lean on the client library under test (ldap3). Anonymous
clients may read nothing: the verifier must bind.
"""

import contextlib
import datetime
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SLAPD = "/usr/sbin/slapd"
SUFFIX = "dc=example,dc=org"
PEOPLE = f"ou=people,{SUFFIX}"
MANAGER_DN = f"cn=manager,{SUFFIX}"
MANAGER_PASSWORD = "manager-secret"
SERVICE_DN = f"cn=baoling,ou=services,{SUFFIX}"
SERVICE_PASSWORD = "service-secret"
START_TIMEOUT_S = 10.0
# The state TCP_INFO reports (tcpi_state) for an established connection: Linux's TCP_ESTABLISHED.
TCP_ESTABLISHED = 1

SLAPD_CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {base}/slapd.pid
argsfile {base}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
database mdb
maxsize 16777216
suffix "{suffix}"
rootdn "{manager}"
rootpw {manager_password}
directory {base}/db
index objectClass,uid eq
TLSCACertificateFile {base}/ca.pem
TLSCertificateFile {base}/server.pem
TLSCertificateKeyFile {base}/server.key
"""

BASE_ENTRIES = f"""\
dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,{SUFFIX}
objectClass: organizationalUnit
ou: people

dn: ou=services,{SUFFIX}
objectClass: organizationalUnit
ou: services

dn: {SERVICE_DN}
objectClass: person
cn: baoling
sn: service
userPassword: {SERVICE_PASSWORD}
"""


@dataclass(frozen=True)
class Person:
    """One seeded inetOrgPerson."""

    uid: str
    display_name: str
    mail: str
    phone: str

    @property
    def dn(self) -> str:
        return f"uid={self.uid},{PEOPLE}"

    def ldif(self) -> str:
        return (
            f"dn: {self.dn}\nobjectClass: inetOrgPerson\nuid: {self.uid}\n"
            f"cn: {self.display_name}\nsn: {self.display_name.split()[-1]}\n"
            f"displayName: {self.display_name}\nmail: {self.mail}\n"
            f"telephoneNumber: {self.phone}\n"
        )


PEOPLE_SEEDED = (
    Person("alice", "Alice Liddell", "alice@example.org", "+44 1865 270000"),
    Person("bob", "Bob Builder", "bob@example.org", "+44 20 7946 0000"),
    Person("carol", "Carol Danvers", "carol@example.org", "+1 202 555 0100"),
)


def _write_certificates(base: Path) -> None:
    """A CA (ca.pem) and a server certificate for 127.0.0.1 it signed (server.pem/.key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, server_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Baoling test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (base / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (base / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (base / "server.key").write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LdapServer:
    """A slapd of one test's own; `url` stays the same across stop() and start()."""

    base: Path
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def ca_file(self) -> Path:
        """The CA that signed the server's certificate."""
        return self.base / "ca.pem"

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start slapd in the foreground (-d 0: no fork, so SIGTERM reaches it) and wait until
        the manager can bind."""
        log = (self.base / "slapd.log").open("ab")
        self.process = subprocess.Popen(
            [SLAPD, "-d", "0", "-h", f"{self.url}/", "-f", str(self.base / "slapd.conf")],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL),
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while self._ldap("ldapwhoami", check=False).returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                text = (self.base / "slapd.log").read_text(errors="replace")
                pytest.fail(f"slapd did not start on {self.url}:\n{text}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM, then wait for slapd to close its database and exit."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=START_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def _ldap(
        self, tool: str, *args: str, ldif: str = "", check: bool = True
    ) -> "subprocess.CompletedProcess[str]":
        """Run an OpenLDAP client tool as the directory's manager."""
        command = [tool, "-x", "-H", self.url, "-D", MANAGER_DN, "-w", MANAGER_PASSWORD, *args]
        done = subprocess.run(command, input=ldif, capture_output=True, text=True, timeout=30)
        if check and done.returncode != 0:
            pytest.fail(f"{tool} failed ({done.returncode}): {done.stderr.strip()}")
        return done

    def add(self, ldif: str) -> None:
        self._ldap("ldapadd", ldif=ldif)

    def add_person(self, person: Person) -> None:
        self.add(person.ldif())

    def replace(self, dn: str, attribute: str, value: str) -> None:
        """Give the entry's `attribute` this one value (ldapmodify)."""
        self._ldap(
            "ldapmodify",
            ldif=f"dn: {dn}\nchangetype: modify\nreplace: {attribute}\n{attribute}: {value}\n",
        )

    def connections_from_this_process(self) -> int:
        """How many TCP connections this process holds open (ESTABLISHED) to this server.

        Each socket of the process is asked itself, through a duplicate of its descriptor, for its
        peer and its state. /proc/net/tcp is no snapshot: the kernel writes it a page per read()
        and resumes where it stopped while other connections open and close, so on a busy machine
        it lists the same socket twice or more (a CI run counted 4 connections of a pool of 3)."""
        count = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:["):
                    continue
                copy = os.dup(int(fd))
            except OSError:  # closed meanwhile
                continue
            try:
                sock = socket.socket(fileno=copy)
            except OSError:  # the number now names something else
                os.close(copy)
                continue
            with sock:  # closes the duplicate only: the connection stays as it was
                if sock.type != socket.SOCK_STREAM or sock.family not in (
                    socket.AF_INET,
                    socket.AF_INET6,
                ):
                    continue
                try:
                    host, port = sock.getpeername()[:2]
                except OSError:  # not connected
                    continue
                state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
                if (
                    host in ("127.0.0.1", "::ffff:127.0.0.1")
                    and port == self.port
                    and state == TCP_ESTABLISHED
                ):
                    count += 1
        return count

    def delete(self, dn: str) -> None:
        self._ldap("ldapdelete", dn)

    def entry_uuid(self, dn: str) -> str:
        """The entryUUID slapd gave the entry (an operational attribute)."""
        found = self._ldap("ldapsearch", "-LLL", "-b", dn, "-s", "base", "entryUUID")
        for line in found.stdout.splitlines():
            if line.startswith("entryUUID: "):
                return line.removeprefix("entryUUID: ")
        pytest.fail(f"no entryUUID for {dn}")


@pytest.fixture
def ldap_server() -> Iterator[LdapServer]:
    """A running slapd seeded with the service account and PEOPLE_SEEDED."""
    with seeded_ldap_server() as server:
        yield server


@contextlib.contextmanager
def seeded_ldap_server() -> Iterator[LdapServer]:
    """The ldap_server fixture's slapd, for a script (bench/validate_by_user.py) as well."""
    if not os.access(SLAPD, os.X_OK):
        pytest.fail(f"{SLAPD} is missing: run scripts/bootstrap.sh (Debian package slapd)")
    base = Path(tempfile.mkdtemp(prefix="baoling-ldap-"))
    (base / "db").mkdir()
    _write_certificates(base)
    (base / "slapd.conf").write_text(
        SLAPD_CONF.format(
            base=base, suffix=SUFFIX, manager=MANAGER_DN, manager_password=MANAGER_PASSWORD
        )
    )
    server = LdapServer(base)
    try:
        server.start()
        server.add(BASE_ENTRIES + "".join("\n" + person.ldif() for person in PEOPLE_SEEDED))
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
