"""A served node at the edges of HTTP: a client that hangs up mid-body is a 499 (client closed
request) in the log and /metrics, never a 500; request headers or a body that arrive too slowly
are cut with a 408 and the connection closed, headers too large with a 431; a 405 names the
allowed methods; /docs and /redoc do not exist.

Raw sockets where an HTTP client would not misbehave on purpose."""

import json
import re
import select
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.http.request_head import MAX_HEAD_BYTES

BODY_TIMEOUT_S = 2
HEADER_TIMEOUT_S = 2
HTTP_TIMEOUT_S = 30  # generous: the suite may share two cores with other test runs
# How much earlier than our clock says a server's timeout may end: the server starts timing
# when it takes the connection, which on a loaded machine can be before this test, descheduled
# after connect() returns, reads its own clock (one run saw a 408 at 1.9999 s of a 2 s timeout).
EARLY_S = 0.05
# Headers of a validate request whose declared body (60 bytes) never fully arrives.
PARTIAL_REQUEST = (
    b"POST /v1/validate HTTP/1.1\r\nHost: verifier\r\nContent-Type: application/json\r\n"
    b"Content-Length: 60\r\n\r\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir: Path = tmp_path_factory.mktemp("data")
    timeout = [
        "--http-body-timeout-seconds",
        str(BODY_TIMEOUT_S),
        "--http-header-timeout-seconds",
        str(HEADER_TIMEOUT_S),
    ]
    with ServerProcess(["--data-dir", str(data_dir)], timeout) as running:
        yield running


def connect(server: ServerProcess) -> socket.socket:
    address = urlsplit(server.url)
    assert address.hostname is not None and address.port is not None
    sock = socket.create_connection((address.hostname, address.port), timeout=HTTP_TIMEOUT_S)
    return sock


def read_to_eof(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a socket timeout fails)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def logged(server: ServerProcess, pattern: str) -> bool:
    """Whether the server's log gets a line matching `pattern` within HTTP_TIMEOUT_S: the
    access line of an answer the server cut may be written after the connection is closed, so a
    client may read the log before it is there."""
    deadline = time.monotonic() + HTTP_TIMEOUT_S
    while not re.search(pattern, server.log(), re.MULTILINE):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def requests_counted(server: ServerProcess, status: str) -> float:
    """baoling_http_requests_total over every route and method, for one status."""
    text = httpx.get(f"{server.url}/metrics", timeout=HTTP_TIMEOUT_S).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "baoling_http_requests_total" and sample.labels["status"] == status
    )


@pytest.mark.parametrize("hang_up", ["close", "reset"])
def test_a_client_that_hangs_up_mid_body_is_a_499_in_log_and_metrics_not_a_500(
    server: ServerProcess, hang_up: str
) -> None:
    before = requests_counted(server, "499")
    sock = connect(server)
    sock.sendall(PARTIAL_REQUEST + b'{"token": "alice", "co')
    if hang_up == "reset":  # SO_LINGER 0: close sends a TCP RST instead of a FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    deadline = time.monotonic() + HTTP_TIMEOUT_S
    while requests_counted(server, "499") == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert requests_counted(server, "499") == before + 1
    assert requests_counted(server, "500") == 0
    assert logged(server, r"baoling\.http POST unmatched 499 [\d.]+ms$")
    assert not re.search(r" 500 [\d.]+ms$", server.log(), re.MULTILINE)


def assert_closed_with(response: bytes, status_line: str, error: str, message: str) -> None:
    """`response` is one answer with `status_line`, the error body and `connection: close`."""
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == status_line
    assert "connection: close" in (line.lower() for line in lines[1:])
    assert json.loads(body) == {"error": error, "message": message}


def assert_cut_with_408(response: bytes) -> None:
    late = f"The request body took longer than {BODY_TIMEOUT_S} s to arrive."
    assert_closed_with(response, "HTTP/1.1 408 Request Timeout", "body_timeout", late)


def test_a_body_that_stops_arriving_is_cut_with_408_and_the_connection_closed(
    server: ServerProcess,
) -> None:
    sock = connect(server)
    started = time.monotonic()
    sock.sendall(PARTIAL_REQUEST + b'{"tok')
    response = read_to_eof(sock)  # returns only because the server closed the connection
    assert time.monotonic() - started >= BODY_TIMEOUT_S
    sock.close()
    assert_cut_with_408(response)
    assert logged(server, r"baoling\.http POST unmatched 408 [\d.]+ms$")


def test_a_trickled_body_is_cut_at_the_timeout_however_often_bytes_come(
    server: ServerProcess,
) -> None:
    """Four bytes BODY_TIMEOUT_S / 4 apart never leave the connection idle for long: the timeout
    counts from the request's start, so the answer comes BODY_TIMEOUT_S after it all the same (a
    timeout restarted by each byte would answer 7/4 BODY_TIMEOUT_S after the start, or later)."""
    sock = connect(server)
    started = time.monotonic()
    sock.sendall(PARTIAL_REQUEST)
    interval = BODY_TIMEOUT_S / 4
    for byte in b'{"t':
        sock.sendall(bytes([byte]))
        assert select.select([sock], [], [], interval)[0] == []  # no answer before the timeout
    sock.sendall(b"o")  # at 3/4 of the timeout
    response = read_to_eof(sock)
    elapsed = time.monotonic() - started
    sock.close()
    assert_cut_with_408(response)
    assert BODY_TIMEOUT_S - EARLY_S <= elapsed < 7 / 4 * BODY_TIMEOUT_S


def assert_head_cut_with_408(response: bytes) -> None:
    late = f"The request headers took longer than {HEADER_TIMEOUT_S} s to arrive."
    assert_closed_with(response, "HTTP/1.1 408 Request Timeout", "header_timeout", late)


def test_headers_trickled_a_byte_at_a_time_are_cut_at_the_timeout(server: ServerProcess) -> None:
    """Slowloris: a byte every HEADER_TIMEOUT_S / 4 never leaves the connection idle for long,
    and the head is never complete; the answer comes HEADER_TIMEOUT_S after the connection
    opened all the same."""
    sock = connect(server)
    started = time.monotonic()
    interval = HEADER_TIMEOUT_S / 4
    for byte in PARTIAL_REQUEST[:3]:
        sock.sendall(bytes([byte]))
        assert select.select([sock], [], [], interval)[0] == []  # no answer before the timeout
    sock.sendall(PARTIAL_REQUEST[3:4])  # at 3/4 of the timeout
    response = read_to_eof(sock)
    elapsed = time.monotonic() - started
    sock.close()
    assert_head_cut_with_408(response)
    assert HEADER_TIMEOUT_S - EARLY_S <= elapsed < 7 / 4 * HEADER_TIMEOUT_S


UNMATCHED = {"route": "unmatched"}


def head_timeouts_counted(server: ServerProcess) -> dict[str, float]:
    """The series /metrics keeps for 408s given to request heads: method unknown ("-")."""
    text = httpx.get(f"{server.url}/metrics", timeout=HTTP_TIMEOUT_S).text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels.get("method") == "-"
        or (sample.name == "baoling_http_request_seconds_count" and sample.labels == UNMATCHED)
    }


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    server: ServerProcess,
) -> None:
    before = head_timeouts_counted(server)
    sock = connect(server)
    started = time.monotonic()
    response = read_to_eof(sock)
    elapsed = time.monotonic() - started
    sock.close()
    assert_head_cut_with_408(response)
    assert HEADER_TIMEOUT_S - EARLY_S <= elapsed < 7 / 4 * HEADER_TIMEOUT_S
    # Counted, timed and logged as the app's answers are, though the app never saw it.
    after = head_timeouts_counted(server)
    assert after["baoling_http_requests_total"] == before.get("baoling_http_requests_total", 0) + 1
    seconds = "baoling_http_request_seconds_count"
    assert after[seconds] == before.get(seconds, 0) + 1
    line = rf"baoling\.http - unmatched 408 {HEADER_TIMEOUT_S * 1000:.1f}ms$"
    assert logged(server, line)


def test_the_next_head_on_a_kept_alive_connection_has_the_same_limit(
    server: ServerProcess,
) -> None:
    """A first request answered in time, then the second head trickled: it is cut as well."""
    sock = connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: verifier\r\n\r\n")
    first = b""
    while not first.endswith(b'{"status":"ok"}'):
        first += sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    started = time.monotonic()
    for byte in b"GET /he":  # within uvicorn's keep-alive time, one byte at a time
        sock.sendall(bytes([byte]))
        time.sleep(HEADER_TIMEOUT_S / 8)
    response = read_to_eof(sock)
    elapsed = time.monotonic() - started
    sock.close()
    assert_head_cut_with_408(response)
    assert HEADER_TIMEOUT_S - EARLY_S <= elapsed < 7 / 4 * HEADER_TIMEOUT_S


@pytest.mark.parametrize(
    ("chunks", "end"),
    [(1, b""), (64, b""), (1, b"\r\n\r\n"), (64, b"\r\n\r\n")],
    ids=["at-once", "in-pieces", "whole-at-once", "whole-in-pieces"],
)
def test_headers_over_the_size_limit_are_refused_with_431_and_the_connection_closed(
    server: ServerProcess, chunks: int, end: bytes
) -> None:
    """A head that never ends but keeps growing is refused as soon as it passes the limit, not
    kept until the time limit: within it a fast client could send gigabytes. A whole head that
    is too large is refused too, even when it comes in one read."""
    sock = connect(server)
    started = time.monotonic()
    pad = b"X-Pad: " + b"p" * MAX_HEAD_BYTES
    head = b"GET /healthz HTTP/1.1\r\nHost: verifier\r\n" + pad + end
    size = len(head) // chunks + 1
    for start in range(0, len(head), size):
        sock.sendall(head[start : start + size])
    response = read_to_eof(sock)
    sock.close()
    assert time.monotonic() - started < HEADER_TIMEOUT_S
    assert_closed_with(
        response,
        "HTTP/1.1 431 Request Header Fields Too Large",
        "header_too_large",
        f"The request headers are larger than {MAX_HEAD_BYTES} bytes.",
    )
    assert logged(server, r"baoling\.http - unmatched 431 [\d.]+ms$")


@pytest.mark.parametrize(
    "head",
    [
        b"GET /healthz HTTP/1.1\r\nHost: verifier\r\nContent-Length: -1\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET /hea\x00lthz HTTP/1.1\r\nHost: verifier\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: ver\x00ifier\r\n\r\n",
    ],
    ids=["negative-length", "two-lengths", "nul-in-path", "nul-in-header"],
)
def test_what_is_not_http_gets_a_json_400_counted_and_logged(
    server: ServerProcess, head: bytes
) -> None:
    before = requests_counted(server, "400")
    sock = connect(server)
    sock.sendall(head)
    response = read_to_eof(sock)
    sock.close()
    assert_closed_with(
        response, "HTTP/1.1 400 Bad Request", "bad_request", "The request is not valid HTTP/1.1."
    )
    assert requests_counted(server, "400") == before + 1
    assert logged(server, r"baoling\.http - unmatched 400 [\d.]+ms$")


def test_headers_just_under_the_size_limit_are_answered(server: ServerProcess) -> None:
    pad = "p" * (MAX_HEAD_BYTES - 200)
    response = httpx.get(f"{server.url}/healthz", headers={"X-Pad": pad}, timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 200


@pytest.mark.parametrize("split", [0, 1, 2, 3], ids=lambda n: f"blank-line-split-{n}")
def test_a_body_in_the_heads_read_does_not_count_as_head(server: ServerProcess, split: int) -> None:
    """A short head and a body larger than the head's limit, sent in one read (or with the
    head's blank line split across two), is answered as a request, not refused with 431."""
    body = json.dumps({"token": "t", "code": "1" * (2 * MAX_HEAD_BYTES)}).encode()
    head = (
        f"POST /v1/validate HTTP/1.1\r\nHost: verifier\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    sock = connect(server)
    cut = len(head) - split if split else len(head) + len(body)
    sock.sendall((head + body)[:cut])
    if split:
        time.sleep(0.1)  # the parser sees the first part on its own
        sock.sendall((head + body)[cut:])
    response = read_to_eof(sock)
    sock.close()
    assert response.startswith(b"HTTP/1.1 401 "), response[:200]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/tokens", "GET, POST"),
        ("PATCH", "/v1/tokens/alice", "DELETE, GET"),
        ("GET", "/v1/validate", "POST"),
        ("POST", "/healthz", "GET"),
    ],
)
def test_a_405_names_every_method_of_the_path_in_allow(
    server: ServerProcess, method: str, path: str, allowed: str
) -> None:
    response = httpx.request(method, f"{server.url}{path}", timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json() == {"error": "method_not_allowed", "message": "Method Not Allowed"}


@pytest.mark.parametrize("path", ["/docs", "/docs/oauth2-redirect", "/redoc"])
def test_the_interactive_docs_are_off(server: ServerProcess, path: str) -> None:
    response = httpx.get(f"{server.url}{path}", timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "Not Found"}
