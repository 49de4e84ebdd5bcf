"""Secrets at rest (AES-GCM under the master key file) on SQLite and PostgreSQL: nothing in the
database reveals a secret in any encoding, a wrong key fails loudly, rotation keeps tokens
working and survives a crash at either side of its commit."""

import base64
import os
import stat
import threading

import pytest
import sqlalchemy as sa

from baoling.verifier import crypto
from baoling.verifier.errors import MasterKeyError
from baoling.verifier.store import make_engine, tokens
from tests.test_verifier_service import T0, code_at

SECRETS = {
    "alice": bytes.fromhex("3132333435363738393031323334353637383930"),
    "bob": bytes(range(200, 232)),
    "carol": os.urandom(64),
}
ALGORITHMS = {"alice": "sha1", "bob": "sha256", "carol": "sha512"}


def encodings(secret: bytes) -> list[bytes]:
    """Every way a secret might sit in a file: raw, hex and base32 in both cases."""
    b32 = base64.b32encode(secret)
    return [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        b32,
        b32.lower(),
        b32.rstrip(b"="),
        b32.rstrip(b"=").lower(),
    ]


def enrol_all(v) -> None:
    for token_id, secret in SECRETS.items():
        v.enrol(token_id, secret, algorithm=ALGORITHMS[token_id], now=T0)


def assert_all_work(v, now: float) -> None:
    for token_id, secret in SECRETS.items():
        assert v.validate(
            token_id, code_at(secret, now, algorithm=ALGORITHMS[token_id]), now=now
        ), token_id


def every_stored_value(store_url, data_dir) -> bytes:
    """Every value of every table, as bytes (the database's own view, on either backend)."""
    engine = make_engine(store_url or f"sqlite:///{data_dir / 'verifier.sqlite3'}")
    out = []
    with engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                out.extend(v if isinstance(v, bytes) else str(v).encode() for v in row)
    engine.dispose()
    return b"\n".join(out)


@pytest.mark.parametrize("store_url", [None])
def test_no_secret_in_any_encoding_in_the_sqlite_files(make_verifier, data_dir):
    v = make_verifier()
    enrol_all(v)
    assert_all_work(v, T0)
    v.rotate_key()
    assert_all_work(v, T0 + 30)
    v.close()
    files = [p for p in data_dir.iterdir() if p.name != "master.key"]
    assert "verifier.sqlite3" in [p.name for p in files]
    blob = b"".join(p.read_bytes() for p in files)
    for secret in SECRETS.values():
        for form in encodings(secret):
            assert form not in blob


def test_no_secret_in_any_stored_value(make_verifier, store_url, data_dir):
    v = make_verifier()
    enrol_all(v)
    assert_all_work(v, T0)
    stored = every_stored_value(store_url, data_dir)
    assert b"alice" in stored  # the dump really holds the tokens table
    for secret in SECRETS.values():
        for form in encodings(secret):
            assert form not in stored


def test_master_key_file_is_created_0600_on_first_run(make_verifier, data_dir):
    make_verifier()
    key_file = data_dir / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(bytes.fromhex(key_file.read_text())) == crypto.KEY_BYTES


def test_wrong_master_key_fails_loudly_and_changes_nothing(make_verifier, data_dir):
    v = make_verifier()
    enrol_all(v)
    v.close()
    key_file = data_dir / "master.key"
    right = key_file.read_text()
    key_file.write_text(os.urandom(32).hex())
    with pytest.raises(
        MasterKeyError,
        match=(
            f"^master key file {key_file} is not the key this database was encrypted with "
            r"\(database expects key fingerprint [0-9a-f]{32}, file has [0-9a-f]{32}\)$"
        ),
    ):
        make_verifier()
    key_file.write_text(right)
    assert_all_work(make_verifier(), T0)


def test_missing_or_malformed_or_exposed_key_file_is_refused(make_verifier, data_dir):
    make_verifier().enrol("alice", SECRETS["alice"])
    key_file = data_dir / "master.key"
    right = key_file.read_text()
    key_file.unlink()
    with pytest.raises(MasterKeyError, match=f"^master key file {key_file} does not exist$"):
        make_verifier()
    key_file.write_text("not hex")
    key_file.chmod(0o600)
    with pytest.raises(MasterKeyError, match=f"^master key file {key_file} is not 64 hex digits$"):
        make_verifier()
    key_file.write_text(right)
    key_file.chmod(0o644)
    with pytest.raises(
        MasterKeyError,
        match=(
            f"^master key file {key_file} is readable by other users \\(mode 0644\\); "
            f"run: chmod 600 {key_file}$"
        ),
    ):
        make_verifier()


def test_sealed_secret_moved_to_another_token_does_not_open(make_verifier, store_url, data_dir):
    v = make_verifier()
    enrol_all(v)
    engine = make_engine(store_url or f"sqlite:///{data_dir / 'verifier.sqlite3'}")
    with engine.begin() as conn:
        sealed = conn.execute(sa.select(tokens.c.secret).where(tokens.c.id == "alice")).scalar()
        conn.execute(tokens.update().where(tokens.c.id == "bob").values(secret=sealed))
    engine.dispose()
    with pytest.raises(
        MasterKeyError,
        match=(
            r"^the secret of token 'bob' does not open with this master key "
            r"\(wrong key file, or the row was altered\)$"
        ),
    ):
        v.validate("bob", "123456", now=T0)


def test_each_write_uses_a_fresh_nonce():
    key = crypto.MasterKey.generate()
    first, second = key.seal("alice", b"same secret"), key.seal("alice", b"same secret")
    assert first[: crypto.NONCE_BYTES] != second[: crypto.NONCE_BYTES]
    assert key.open("alice", first) == key.open("alice", second) == b"same secret"


def test_rotate_key_keeps_every_token_working(make_verifier, data_dir):
    v = make_verifier()
    enrol_all(v)
    assert_all_work(v, T0)
    key_file = data_dir / "master.key"
    old = key_file.read_text()
    v.rotate_key()
    assert v.audit(limit=1)[0]["action"] == "rotate_key"
    assert key_file.read_text() != old
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not crypto.staged_path(key_file).exists()
    assert_all_work(v, T0 + 30)
    assert_all_work(make_verifier(), T0 + 60)
    key_file.write_text(old)
    with pytest.raises(MasterKeyError, match="is not the key this database was encrypted with"):
        make_verifier()


def test_crash_after_rotation_commit_is_finished_at_next_start(
    make_verifier, data_dir, monkeypatch
):
    v = make_verifier()
    enrol_all(v)

    def crash(path):
        raise KeyboardInterrupt("power cut before the rename")

    monkeypatch.setattr(crypto, "commit_staged_key", crash)
    with pytest.raises(KeyboardInterrupt):
        v.rotate_key()
    monkeypatch.undo()
    key_file = data_dir / "master.key"
    staged = crypto.staged_path(key_file).read_text()
    assert_all_work(make_verifier(), T0)
    assert key_file.read_text() == staged
    assert not crypto.staged_path(key_file).exists()


def test_crash_before_rotation_commit_keeps_the_old_key(make_verifier, data_dir):
    v = make_verifier()
    enrol_all(v)
    key_file = data_dir / "master.key"
    old = key_file.read_text()
    crypto.stage_key(key_file)  # a rotation that died before its transaction committed
    assert_all_work(make_verifier(), T0)
    assert key_file.read_text() == old
    assert not crypto.staged_path(key_file).exists()


def test_rotations_while_another_verifier_validates_lose_no_validation(make_verifier, data_dir):
    """A rotation by the admin CLI while the server validates: both share the data folder."""
    server, admin = make_verifier(), make_verifier()
    enrol_all(server)
    results: list[bool] = []

    def validate_steps() -> None:
        for i in range(40):
            now = T0 + 30 * i
            results.append(
                server.validate("bob", code_at(SECRETS["bob"], now, algorithm="sha256"), now=now)
            )

    validator = threading.Thread(target=validate_steps)
    validator.start()
    for _ in range(3):
        admin.rotate_key()
    validator.join()
    assert results == [True] * 40
    assert not crypto.staged_path(data_dir / "master.key").exists()
    assert_all_work(make_verifier(), T0 + 30 * 41)
    assert server.verify_audit().ok
