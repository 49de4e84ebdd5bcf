"""What operators get from the events (docs/operations.md, "Readiness, metrics and logs"): a
served node's /readyz (store, schema, outbox backlog), the events' series in /metrics, log lines
as JSON, the deploy/ alert rules and dashboard naming only series the node serves, and delivered
events pruned after events_keep_seconds."""

import base64
import json
import os
import re
import shutil
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
import yaml

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.channels import Channels
from baoling.verifier.channels_config import EventsConfig
from baoling.verifier.delivery import Delivery, Retry
from baoling.verifier.events import EVENT_TYPES
from baoling.verifier.service import Verifier
from baoling.verifier.store import SCHEMA_VERSION
from tests.fixtures_ldap import _free_port
from tests.fixtures_postgres import PostgresServer, _new_cluster, _start, _stop
from tests.test_events import receiver  # noqa: F401 (a fixture)

REPO = Path(__file__).resolve().parent.parent
WEBHOOK_SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
TIMEOUT_S = 30


def served_args(tmp_path: Path, *more: str) -> list[str]:
    secret = tmp_path / "hook.secret"
    secret.write_text(WEBHOOK_SECRET + "\n")
    return [
        # Nothing listens there: every delivery fails and the events wait.
        "--events-webhook-url",
        f"http://127.0.0.1:{_free_port()}/hook",
        "--events-webhook-secret-file",
        str(secret),
        "--events-retry-seconds",
        "600",
        *more,
    ]


def admin_key(data_dir: Path) -> dict[str, str]:
    v = Verifier(data_dir=data_dir)
    try:
        return {"Authorization": f"Bearer {v.create_api_key('ops', ['admin'])}"}
    finally:
        v.close()


def wait_for(check, timeout_s: float = TIMEOUT_S) -> None:  # noqa: ANN001 (a predicate)
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_readyz_reports_the_backlog_and_the_schema_and_logs_are_json(tmp_path):
    data_dir = tmp_path / "data"
    auth = admin_key(data_dir)
    args = served_args(tmp_path, "--events-backlog-ready", "3", "--log-format", "json")
    with ServerProcess(["--data-dir", str(data_dir)], args) as server:
        ready = httpx.get(f"{server.url}/readyz", timeout=TIMEOUT_S)
        assert (ready.status_code, ready.json()) == (
            200,
            {
                "status": "ready",
                "checks": {
                    "store": "ok",
                    "schema": "ok",
                    "events_backlog": "ok",
                    "data_folder": "ok",
                },
            },
        )
        for n in range(3):
            enrolled = httpx.post(
                f"{server.url}/v1/tokens", json={"token": f"t{n}"}, headers=auth, timeout=30
            )
            assert enrolled.status_code == 201
        full = httpx.get(f"{server.url}/readyz", timeout=TIMEOUT_S)
        assert (full.status_code, full.json()["status"]) == (503, "not_ready")
        assert full.json()["checks"]["events_backlog"] == ("3 events wait for delivery (limit 3)")

        def failures() -> float:
            text = httpx.get(f"{server.url}/metrics", timeout=TIMEOUT_S).text
            found = re.search(
                r'^baoling_event_delivery_failures_total\{channel="webhook"\} (\S+)$', text, re.M
            )
            return float(found[1]) if found else 0.0

        wait_for(lambda: failures() >= 3)
        metrics = httpx.get(f"{server.url}/metrics", timeout=TIMEOUT_S).text
        assert re.search(r"^baoling_events_backlog 3\.0$", metrics, re.M)
        assert re.search(
            r'^baoling_event_delivery_seconds_count\{channel="webhook"\} [1-9]', metrics, re.M
        )

        with sqlite3.connect(data_dir / "verifier.sqlite3") as db:
            db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
        stale = httpx.get(f"{server.url}/readyz", timeout=TIMEOUT_S)
        assert stale.status_code == 503
        assert stale.json()["checks"]["schema"] == (
            f"the store's schema is version {SCHEMA_VERSION + 1}, this code needs {SCHEMA_VERSION}"
        )
    logged = [
        json.loads(line) for line in server.lines if not line.startswith(("HTTP on ", "RADIUS on "))
    ]
    assert logged, server.log()
    for line in logged:
        assert set(line) >= {"time", "level", "logger", "message"}
    retries = [line for line in logged if line["logger"] == "baoling.verifier.delivery"]
    assert retries and retries[0]["level"] == "WARNING"
    assert "not delivered, next attempt in " in retries[0]["message"]
    assert WEBHOOK_SECRET not in server.log()


def served_series(tmp_path: Path) -> set[str]:
    """The metric names a served node's /metrics describes (its HELP lines)."""
    data_dir = tmp_path / "data"
    with ServerProcess(["--data-dir", str(data_dir)], served_args(tmp_path)) as server:
        text = httpx.get(f"{server.url}/metrics", timeout=TIMEOUT_S).text
    return set(re.findall(r"^# HELP (\S+) ", text, re.M))


def referenced(expr: str) -> set[str]:
    """The baoling_ series a PromQL expression reads, as their HELP names."""
    names = set(re.findall(r"\bbaoling_[a-z_]+", expr))
    return {re.sub(r"_(bucket|sum|count)$", "", name) for name in names}


def test_the_deploy_alert_rules_and_dashboard_read_only_series_the_verifier_serves(tmp_path):
    served = served_series(tmp_path)
    rules = yaml.safe_load((REPO / "deploy/prometheus-alerts.yml").read_text())
    exprs = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert rule["alert"].startswith("Baoling")
            assert rule["labels"]["severity"] in ("warning", "critical")
            assert rule["annotations"]["summary"]
            exprs.append(rule["expr"])
    dashboard = json.loads((REPO / "deploy/grafana-dashboard.json").read_text())
    exprs += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    names = set().union(*(referenced(expr) for expr in exprs))
    # A counter's HELP line names it with _total, as its samples do. RADIUS series exist only
    # on a node that answers RADIUS (this one does not): they are checked in its source.
    radius_source = (REPO / "verifier/radius.py").read_text()
    radius = {n for n in names if n.startswith("baoling_radius_")}
    assert all(f'"{n.removesuffix("_total")}"' in radius_source for n in radius), radius
    missing = {name for name in names - radius if name not in served}
    assert not missing, missing
    assert {"baoling_events_backlog", "baoling_event_delivery_failures_total"} <= names
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


def test_delivered_events_are_pruned_after_the_keep_time_and_dead_ones_stay(tmp_path):
    v = Verifier(data_dir=tmp_path / "data", event_types=frozenset(EVENT_TYPES))
    sent: list[str] = []

    class Hook:
        def send(self, event_id: str, body: bytes) -> None:
            sent.append(event_id)

    try:
        routes = Channels(
            EventsConfig(),
            unsubscribed=frozenset(EVENT_TYPES),
            contact=v.outbox.contact,
            webhook=Hook(),
        )
        worker = Delivery(v.outbox, routes.send, Retry(1, 60), lease_s=5, keep_s=3600)
        for n in range(3):
            v.enrol(f"t{n}")
        assert worker.run_once() == 3
        assert worker.prune(time.time()) == 0  # delivered just now: kept
        assert len(v.list_events("delivered")) == 3
        assert worker.prune(time.time() + 3601) == 3
        assert v.list_events() == []
    finally:
        v.close()
    assert len(sent) == 3


def test_an_event_row_damaged_by_hand_is_listed_with_the_others(tmp_path):
    data_dir = tmp_path / "data"
    v = Verifier(data_dir=data_dir, event_types=frozenset(EVENT_TYPES))
    try:
        for n in range(2):
            v.enrol(f"t{n}")
        damaged = v.list_events()[0]["id"]
        with sqlite3.connect(data_dir / "verifier.sqlite3") as db:
            db.execute("UPDATE events SET body = 'not json', done = '[' WHERE id = ?", (damaged,))
        listed = {event["id"]: event for event in v.list_events()}
        assert len(listed) == 2
        assert (listed[damaged]["event"], listed[damaged]["done"]) == (None, [])
        (other,) = [event["id"] for event in listed.values() if event["id"] != damaged]
        assert listed[other]["event"]["data"]["token"] in {"t0", "t1"}
        # Delivery: the damaged event fails (and backs off), the other one goes.
        sent: list[str] = []

        class Hook:
            def send(self, event_id: str, body: bytes) -> None:
                sent.append(event_id)

        routes = Channels(
            EventsConfig(),
            unsubscribed=frozenset(EVENT_TYPES),
            contact=v.outbox.contact,
            webhook=Hook(),
        )
        Delivery(v.outbox, routes.send, Retry(1, 60), lease_s=5, keep_s=3600).run_once()
        assert sent == [other]
        states = {event["id"]: event["state"] for event in v.list_events()}
        assert states == {other: "delivered", damaged: "pending"}
    finally:
        v.close()


@pytest.mark.parametrize("value", ["xml", "JSON"])
def test_a_bad_log_format_is_one_line(tmp_path, value):
    from tests.test_events import baoling

    proc = baoling("verifier", "--data-dir", str(tmp_path / "d"), "serve", "--log-format", value)
    assert (proc.returncode, proc.stderr) == (
        1,
        f"Error: --log-format: input should be 'text' or 'json': {value!r}\n",
    )


def test_readyz_answers_503_naming_the_store_when_postgresql_stops(tmp_path):
    """A node whose PostgreSQL goes away gets no traffic: /readyz says why (without the URL's
    password), while /healthz still answers."""
    base, data = _new_cluster()
    try:
        port = _start(base, data)
        database = PostgresServer("127.0.0.1", port).create_database().rsplit("/", 1)[1]
        # Trust authentication ignores the password; it is there to be hidden.
        url = f"postgresql+psycopg://postgres:hunter2@127.0.0.1:{port}/{database}"
        group = ["--data-dir", str(tmp_path / "data"), "--store-url", url]
        with ServerProcess(group, served_args(tmp_path)) as server:
            ready = httpx.get(f"{server.url}/readyz", timeout=TIMEOUT_S)
            assert (ready.status_code, ready.json()["status"]) == (200, "ready")
            _stop(data)
            away = httpx.get(f"{server.url}/readyz", timeout=TIMEOUT_S)
            assert away.status_code == 503
            assert away.json()["status"] == "not_ready"
            (reason,) = away.json()["checks"].values()
            assert reason.startswith(
                f"database postgresql+psycopg://postgres:***@127.0.0.1:{port}/{database} failed: "
            ), reason
            assert "hunter2" not in away.text
            assert httpx.get(f"{server.url}/healthz", timeout=TIMEOUT_S).status_code == 200
    finally:
        _stop(data)
        shutil.rmtree(base, ignore_errors=True)


def test_a_delivering_node_verifies_the_audit_chain_and_reports_a_break(
    tmp_path,
    receiver,  # noqa: F811 (the fixture of tests/test_events.py)
):
    """The periodic verify (events_audit_verify_seconds, an hour by default, a second here)
    reports audit.chain_broken once a row is changed behind the node's back."""
    data_dir = tmp_path / "data"
    auth = admin_key(data_dir)
    secret = tmp_path / "hook.secret"
    secret.write_text(WEBHOOK_SECRET + "\n")
    args = ["--events-webhook-url", receiver.url, "--events-webhook-secret-file", str(secret)]
    args += ["--events-audit-verify-seconds", "1"]
    with ServerProcess(["--data-dir", str(data_dir)], args) as server:
        enrolled = httpx.post(f"{server.url}/v1/tokens", json={"token": "t1"}, headers=auth)
        assert enrolled.status_code == 201
        wait_for(lambda: [b["type"] for b in receiver.bodies()] == ["token.enrolled"])
        time.sleep(2)  # two verifies of the intact chain: nothing to report
        assert [b["type"] for b in receiver.bodies()] == ["token.enrolled"]
        with sqlite3.connect(data_dir / "verifier.sqlite3") as db:
            db.execute("UPDATE audit SET action = 'tampered' WHERE seq = 1")
        wait_for(lambda: "audit.chain_broken" in [b["type"] for b in receiver.bodies()])
    (broken,) = [b["data"] for b in receiver.bodies() if b["type"] == "audit.chain_broken"][:1]
    assert broken["problem"] == "row 1 was altered (its content does not match its hash)"
