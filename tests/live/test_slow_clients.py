"""Hundreds of stalled and partial uploads leave a live server answering, small and quiet.

While the attack lasts, healthy signed calls and /healthz are not held up by it (p99 under
1 s, where a call waiting on a stalled connection would wait for its 4 s deadline; the p99s
are printed: 100 ms on an idle machine, the hardening issue's goal), the server's memory stays
bounded, the stalled connections are closed by the server once their deadlines pass, and
nothing is logged at ERROR. The server gets short deadlines so that the test takes seconds,
not minutes.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.support.processes import BaryonProcess, own_baryon

TIMEOUT_SECONDS = 4.0
STALLED_HEADS = 150
STALLED_BODIES = 150
STALLED_FORMS = 30
PARTIAL_UPLOADS = 60
DISCONNECTS = 20
UPLOAD_BYTES = 2 * 1024 * 1024 - 64 * 1024  # declared; under the 2 MiB limit
SENT_BYTES = UPLOAD_BYTES - 4096  # what the partial uploads send before they stop
RSS_GROWTH_LIMIT = 40 * 1024 * 1024
# Not a speed (three test workers on two cores reach 370 ms): a quarter of the deadline.
HELD_UP_SECONDS = 1.0
TARGET = "AwsProton20200720.ListEnvironmentTemplates"


server = own_baryon(
    "slow-clients",
    env={
        "BARYON_REQUEST_HEADER_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
        "BARYON_REQUEST_BODY_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
    },
)


def _address(server: BaryonProcess) -> tuple[str, int]:
    parts = urlsplit(server.endpoint)
    assert parts.hostname == "127.0.0.1"
    return parts.hostname, parts.port or 80


def _rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match, status
    return int(match.group(1)) * 1024


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    return sock


def _signed_head(
    server: BaryonProcess,
    length: int,
    *,
    target: str = TARGET,
    key: str | None = None,
    region: str | None = None,
) -> bytes:
    """The head of a signed call whose body would be `length` bytes of JSON."""
    host = urlsplit(server.endpoint).netloc
    body = b'{"nextToken":"' + b"a" * (length - 16) + b'"}'
    assert len(body) == length
    request = AWSRequest(
        method="POST",
        url=server.endpoint + "/",
        data=body,
        headers={
            "Host": host,
            "X-Amz-Target": target,
            "Content-Type": "application/x-amz-json-1.0",
        },
    )
    credentials = Credentials(
        key or server.exports["AWS_ACCESS_KEY_ID"], server.exports["AWS_SECRET_ACCESS_KEY"]
    )
    region = region or server.exports["AWS_DEFAULT_REGION"]
    SigV4Auth(credentials, "proton", region).add_auth(request)
    lines = [b"POST / HTTP/1.1"]
    lines += [f"{name}: {value}".encode() for name, value in request.headers.items()]
    lines.append(f"Content-Length: {length}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _unsigned_head(server: BaryonProcess, length: int) -> bytes:
    return (
        f"POST / HTTP/1.1\r\nHost: {urlsplit(server.endpoint).netloc}\r\n"
        f"X-Amz-Target: {TARGET}\r\nContent-Type: application/x-amz-json-1.0\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def _stall_a_head(address: tuple[str, int], host: str) -> socket.socket:
    sock = _connect(address)
    sock.sendall(f"POST / HTTP/1.1\r\nHost: {host}\r\nX-Amz-Target: AwsProton".encode())
    return sock


def _stall_a_body(address: tuple[str, int], host: str) -> socket.socket:
    """An anonymous upload: answered from its headers, and it never finishes its body."""
    sock = _connect(address)
    sock.sendall(
        (
            f"POST / HTTP/1.1\r\nHost: {host}\r\nX-Amz-Target: {TARGET}\r\n"
            f"Content-Type: application/x-amz-json-1.0\r\nContent-Length: {UPLOAD_BYTES}\r\n"
            '\r\n{"nextToken":"'
        ).encode()
    )
    return sock


def _stall_a_form(address: tuple[str, int], host: str) -> socket.socket:
    """A portal form without a session: answered from its headers, its body never comes."""
    sock = _connect(address)
    sock.sendall(
        (
            f"POST /portal/new/environment HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {400 * 1024}\r\n\r\nname=dev&spec="
        ).encode()
    )
    return sock


def _partial_upload(address: tuple[str, int], head: bytes, sockets: list[socket.socket]) -> None:
    """A signed upload that stops just short of its length (the server may cut it first)."""
    sock = _connect(address)
    sockets.append(sock)
    # Refused (throttled) and closed while sending is an answer too.
    with contextlib.suppress(OSError):
        sock.sendall(head + b'{"nextToken":"' + b"a" * (SENT_BYTES - 14))


def _closed_by_server(sock: socket.socket, deadline: float) -> bool:
    """True once the server has closed the connection (after any answer it sent)."""
    sock.setblocking(False)
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        try:
            if sock.recv(65536) == b"":
                return True
        except ConnectionResetError:
            return True
        except BlockingIOError:
            continue
    return False


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _missing_instance(proton: Any) -> None:
    with contextlib.suppress(proton.exceptions.ResourceNotFoundException):
        proton.get_service_instance(serviceName="no-such-service", name="prod")


def test_stalled_and_partial_uploads_leave_the_server_answering_small_and_quiet(
    server: BaryonProcess,
) -> None:
    address = _address(server)
    host = urlsplit(server.endpoint).netloc
    proton = server.client("proton")
    health = httpx.Client(base_url=server.endpoint, timeout=10)
    pid = server.process.pid
    for _ in range(20):  # warm up: connections, caches, first allocations
        proton.list_environment_templates()
        _missing_instance(proton)
        health.get("/healthz")
    baseline = _rss_bytes(pid)
    log_offset = server.log_path.stat().st_size

    head = _signed_head(server, UPLOAD_BYTES)
    for _ in range(DISCONNECTS):  # clients that go away mid-upload
        with _connect(address) as sock:
            sock.sendall(head + b'{"nextToken":"' + b"a" * 65536)
    stalled = [_stall_a_head(address, host) for _ in range(STALLED_HEADS)]
    stalled += [_stall_a_body(address, host) for _ in range(STALLED_BODIES)]
    stalled += [_stall_a_form(address, host) for _ in range(STALLED_FORMS)]
    uploads: list[socket.socket] = []
    senders = [
        threading.Thread(target=_partial_upload, args=(address, head, uploads), daemon=True)
        for _ in range(PARTIAL_UPLOADS)
    ]
    for sender in senders:
        sender.start()

    api_latency: list[float] = []
    health_latency: list[float] = []
    peak = baseline
    # Measure while the attack is at its height: every connection open, the uploads sending,
    # and through the moment their deadlines pass and the server cuts them off.
    measured_until = time.monotonic() + TIMEOUT_SECONDS + 1.5
    while time.monotonic() < measured_until:
        api_latency.append(_timed(proton.list_environment_templates))
        api_latency.append(_timed(lambda: _missing_instance(proton)))
        health_latency.append(_timed(lambda: health.get("/healthz").raise_for_status()))
        peak = max(peak, _rss_bytes(pid))
        time.sleep(0.01)
    for sender in senders:
        sender.join(30)
    assert not any(sender.is_alive() for sender in senders)
    peak = max(peak, _rss_bytes(pid))

    deadline = time.monotonic() + TIMEOUT_SECONDS + 10
    still_open = [sock for sock in stalled + uploads if not _closed_by_server(sock, deadline)]
    for sock in stalled + uploads:
        sock.close()
    peak = max(peak, _rss_bytes(pid))

    assert len(api_latency) >= 20 and len(health_latency) >= 10
    print(
        f"{STALLED_HEADS + STALLED_BODIES + STALLED_FORMS} stalled, {PARTIAL_UPLOADS} partial, "
        f"{DISCONNECTS} abandoned uploads: API p99 {_p99(api_latency) * 1000:.1f} ms, "
        f"/healthz p99 {_p99(health_latency) * 1000:.1f} ms, "
        f"RSS +{(peak - baseline) / 2**20:.1f} MiB"
    )
    assert _p99(api_latency) < HELD_UP_SECONDS, sorted(api_latency)[-5:]
    assert _p99(health_latency) < HELD_UP_SECONDS, sorted(health_latency)[-5:]
    assert peak - baseline < RSS_GROWTH_LIMIT, (baseline, peak)
    assert not still_open, f"{len(still_open)} stalled connections were left open"

    # Still healthy afterwards, and nothing of this was an error of ours.
    assert proton.list_environment_templates()["templates"] is not None
    log = server.log_path.read_bytes()[log_offset:].decode(errors="replace")
    errors = [line for line in log.splitlines() if re.search(r"\b(ERROR|CRITICAL)\b", line)]
    assert not errors, "\n".join(errors[:10])
    assert "Traceback" not in log
    metrics = health.get("/metrics").text
    assert 'code="InternalServerException"' not in metrics
    assert _counter(metrics, "baryon_http_slow_clients_total", 'stage="head"') >= STALLED_HEADS
    stopped = STALLED_BODIES + STALLED_FORMS
    assert _counter(metrics, "baryon_http_slow_clients_total", 'stage="rest"') >= stopped
    assert _counter(metrics, "baryon_api_requests_total", 'code="ClientDisconnected"') > 0
    assert _counter(metrics, "baryon_api_requests_total", 'code="RequestTimeoutException"') > 0


def _counter(exposition: str, name: str, label: str) -> float:
    total = 0.0
    for line in exposition.splitlines():
        if line.startswith(name + "{") and label in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.parametrize(
    ("head", "status", "code"),
    [
        (lambda server, n: _unsigned_head(server, n), 403, "MissingAuthenticationTokenException"),
        (
            lambda server, n: _signed_head(server, n, key="BARYNOSUCHKEY0000000"),
            400,
            "UnrecognizedClientException",
        ),
        (
            lambda server, n: _signed_head(server, n, region="eu-west-1"),
            400,
            "InvalidSignatureException",
        ),
        (
            lambda server, n: _signed_head(server, n, target="AwsProton20200720.FlyToTheMoon"),
            400,
            "UnknownOperationException",
        ),
    ],
    ids=["unsigned", "unknown-key", "wrong-region", "unknown-operation"],
)
def test_what_the_headers_condemn_is_answered_before_the_body_and_cut_off_if_it_stalls(
    server: BaryonProcess, head: Any, status: int, code: str
) -> None:
    address = _address(server)
    for length, closes_at_once in ((1024 * 1024, False), (3 * 1024 * 1024, True)):
        sock = _connect(address)
        try:
            sock.sendall(head(server, length))
            answer = sock.recv(65536).decode()  # not one byte of the body was sent
            assert answer.startswith(f"HTTP/1.1 {status}"), answer
            assert code in answer
            assert ("connection: close" in answer.lower()) is closes_at_once
            assert _closed_by_server(sock, time.monotonic() + TIMEOUT_SECONDS + 10)
        finally:
            sock.close()


def test_an_anonymous_small_body_is_read_before_its_refusal_and_only_until_its_deadline(
    server: BaryonProcess,
) -> None:
    """A body no larger than a head may be (api/front_door.py BODY_READ_WITH_HEAD_BYTES) is
    read with the head, before the signature is checked: an unsigned call whose small body
    stalls is not refused from its headers but times out at the body's deadline, like any
    stalled body, having held no more than its head could have."""
    sock = _connect(_address(server))
    try:
        sock.sendall(_unsigned_head(server, 100) + b'{"nextToken":"')
        answer = sock.recv(65536).decode()
        assert answer.startswith("HTTP/1.1 408"), answer
        assert "RequestTimeoutException" in answer
    finally:
        sock.close()
