"""The HTTP protocol of a live server, spoken over raw sockets: what it refuses from a
request head alone, and what it still answers.

The server's head deadline is short so that a stalled head is cut off in seconds. Each
refusal is a 4xx followed by the server closing the connection, and none of it reaches the
application (nothing is logged at ERROR).
"""

from __future__ import annotations

import json
import re
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11
import httpx
import pytest

from baryon.api.front_door import BODY_READ_WITH_HEAD_BYTES
from tests.support.processes import BaryonProcess, own_baryon

HEAD_DEADLINE_SECONDS = 3.0
HEAD_LIMIT = 16 * 1024
# Long enough for the server to read what was sent and answer, were it going to.
ANSWER_WAIT_SECONDS = 0.3
# Between the pieces of a head: 17 pieces must come well within the head's deadline.
PIECE_WAIT_SECONDS = 0.05

server = own_baryon(
    "http-protocol", env={"BARYON_REQUEST_HEADER_TIMEOUT_SECONDS": str(HEAD_DEADLINE_SECONDS)}
)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@pytest.fixture
def sock(server: BaryonProcess) -> Iterator[socket.socket]:
    parts = urlsplit(server.endpoint)
    connection = socket.create_connection((parts.hostname, parts.port), timeout=10)
    yield connection
    connection.close()


def _host(server: BaryonProcess) -> str:
    return urlsplit(server.endpoint).netloc


def _get(server: BaryonProcess, path: str = "/healthz", extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {_host(server)}\r\n{extra}\r\n".encode()


def _answers(sock: socket.socket, count: int) -> list[Answer]:
    """The next `count` responses on the connection, parsed by h11 as a client would."""
    client = h11.Connection(h11.CLIENT)
    # h11 pairs each response with a request; it is told of ones it need not check.
    answers: list[Answer] = []
    status, headers, body = 0, {}, b""
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    client.send(h11.EndOfMessage())
    while len(answers) < count:
        event = client.next_event()
        if event is h11.NEED_DATA:
            data = sock.recv(65536)
            assert data, f"closed after {len(answers)} of {count} answers"
            client.receive_data(data)
        elif isinstance(event, h11.Response):
            status = event.status_code
            headers = {name.decode(): value.decode() for name, value in event.headers}
            body = b""
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            answers.append(Answer(status, headers, body))
            if len(answers) < count and client.our_state is h11.DONE:
                client.start_next_cycle()
                client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
                client.send(h11.EndOfMessage())
    return answers


def _closed_by_server(sock: socket.socket, wait: float) -> bool:
    """True once the server has closed the connection (after any answer it sent)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return False
        try:
            if sock.recv(65536) == b"":
                return True
        except ConnectionResetError:
            return True
    return False


def _answered(sock: socket.socket, wait: float) -> bool:
    return bool(select.select([sock], [], [], wait)[0])


def _head_in_pieces(server: BaryonProcess, header_lines: int) -> list[bytes]:
    """A GET whose head is sent as its request line, then 1 KiB headers one by one."""
    pieces = [f"GET /healthz HTTP/1.1\r\nHost: {_host(server)}\r\n".encode()]
    pieces += [f"X-Filler-{n}: {'a' * 1000}\r\n".encode() for n in range(header_lines)]
    return [*pieces, b"\r\n"]


def _counter(server: BaryonProcess, name: str, label: str) -> float:
    exposition = httpx.get(server.endpoint + "/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith(name + "{") and label in line
    )


def _errors_logged(server: BaryonProcess, since: int) -> list[str]:
    log = server.log_path.read_bytes()[since:].decode(errors="replace")
    return [line for line in log.splitlines() if re.search(r"\b(ERROR|CRITICAL)\b|Traceback", line)]


def test_an_oversized_head_is_refused_and_closed_before_the_client_has_sent_it(
    server: BaryonProcess, sock: socket.socket
) -> None:
    pieces = _head_in_pieces(server, header_lines=64)
    sent = 0
    for piece in pieces:
        sock.sendall(piece)
        sent += len(piece)
        # Once over the limit, wait for the answer: a piece sent after the server closed
        # would make it reset the connection, losing its answer.
        if _answered(sock, ANSWER_WAIT_SECONDS if sent > HEAD_LIMIT else PIECE_WAIT_SECONDS):
            break
    assert HEAD_LIMIT < sent < sum(map(len, pieces))
    [answer] = _answers(sock, 1)
    assert answer.status == 431
    assert answer.headers["connection"] == "close"
    assert _closed_by_server(sock, 5)


def test_a_head_just_under_the_limit_sent_in_pieces_is_served(
    server: BaryonProcess, sock: socket.socket
) -> None:
    for piece in _head_in_pieces(server, header_lines=14):
        assert not _answered(sock, PIECE_WAIT_SECONDS)
        sock.sendall(piece)
    [answer] = _answers(sock, 1)
    assert answer.status == 200


def test_a_head_under_the_limit_arriving_with_a_large_body_is_served(
    server: BaryonProcess, sock: socket.socket
) -> None:
    pieces = _head_in_pieces(server, header_lines=12)
    pieces[0] = pieces[0].replace(b"GET /healthz", b"POST /")
    body = b'{"nextToken":"' + b"a" * 200_000 + b'"}'
    head = b"".join(pieces[:-1]) + f"Content-Length: {len(body)}\r\n\r\n".encode()
    half = len(head) // 2
    sock.sendall(head[:half])
    assert not _answered(sock, PIECE_WAIT_SECONDS)
    # The head's second half shares its packets with far more than 16 KiB of body.
    sock.sendall(head[half:] + body)
    [answer] = _answers(sock, 1)
    # Refused by the application (it names no operation), not for its size.
    assert json.loads(answer.body)["__type"] == "UnknownOperationException"


def test_a_head_trickled_a_byte_a_second_is_closed_at_its_deadline(
    server: BaryonProcess, sock: socket.socket
) -> None:
    before = _counter(server, "baryon_http_slow_clients_total", 'stage="head"')
    head = _get(server, extra="X-Amz-Target: AwsProton20200720.ListEnvironmentTemplates\r\n")
    closed_after = None
    for sent in range(1, len(head)):
        try:
            sock.sendall(head[sent - 1 : sent])
        except (BrokenPipeError, ConnectionResetError):
            closed_after = sent
            break
        if _closed_by_server(sock, 1.0):
            closed_after = sent
            break
    # Every byte came within a second of the last, yet the deadline was not extended.
    assert closed_after is not None and closed_after < len(head)
    assert closed_after >= HEAD_DEADLINE_SECONDS - 1
    after = _counter(server, "baryon_http_slow_clients_total", 'stage="head"')
    assert after >= before + 1


def test_a_pipelined_request_after_a_complete_one_is_answered(
    server: BaryonProcess, sock: socket.socket
) -> None:
    second = _get(server, "/_baryon/health")
    # The second head begins in the first's packet and completes in one of its own.
    sock.sendall(_get(server) + second[:10])
    [first] = _answers(sock, 1)
    sock.sendall(second[10:] + _get(server))
    answers = [first, *_answers(sock, 2)]
    assert [answer.status for answer in answers] == [200, 200, 200]
    assert all(answer.headers.get("connection") != "close" for answer in answers)


def test_the_rest_of_a_body_answered_unread_is_dropped_and_the_connection_kept(
    server: BaryonProcess, sock: socket.socket
) -> None:
    before = _counter(server, "baryon_http_slow_clients_total", 'stage="rest"')
    # Larger than what is read with the head (api/front_door.py BODY_READ_WITH_HEAD_BYTES).
    body = b'{"nextToken":"' + b"a" * (BODY_READ_WITH_HEAD_BYTES + 1000) + b'"}'
    sock.sendall(
        (
            f"POST / HTTP/1.1\r\nHost: {_host(server)}\r\n"
            "X-Amz-Target: AwsProton20200720.ListEnvironmentTemplates\r\n"
            "Content-Type: application/x-amz-json-1.0\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
    )
    [refused] = _answers(sock, 1)  # unsigned: answered from its headers
    assert refused.status == 403
    sock.sendall(body)
    sock.sendall(_get(server))
    [answer] = _answers(sock, 1)
    assert answer.status == 200
    # Idle now: the keep-alive timer closes it, and it was no slow client.
    assert _closed_by_server(sock, 15)
    assert _counter(server, "baryon_http_slow_clients_total", 'stage="rest"') == before


def test_a_small_body_is_read_with_its_head_and_a_refusal_keeps_the_connection(
    server: BaryonProcess, sock: socket.socket
) -> None:
    """A body no larger than a head may be is read before the signature is checked (one trip
    to the thread pool): the unsigned call is refused once its body is in, nothing of it is
    left on the connection, and the next request on it is answered."""
    body = b'{"nextToken":"' + b"a" * 1000 + b'"}'
    sock.sendall(
        (
            f"POST / HTTP/1.1\r\nHost: {_host(server)}\r\n"
            "X-Amz-Target: AwsProton20200720.ListEnvironmentTemplates\r\n"
            "Content-Type: application/x-amz-json-1.0\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
    )
    [refused] = _answers(sock, 1)
    assert refused.status == 403
    assert "close" not in refused.headers.get("connection", "").lower()
    sock.sendall(_get(server))
    [answer] = _answers(sock, 1)
    assert answer.status == 200


@pytest.mark.parametrize(
    "extra",
    [
        "Content-Length: 3x\r\n",
        "Content-Length: -3\r\n",
        "Content-Length: 3, 3\r\n",
        "Content-Length: 3\r\nContent-Length: 3\r\n",
        "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
        "Transfer-Encoding: gzip\r\n",
        "Transfer-Encoding: gzip, chunked\r\n",
    ],
    ids=[
        "malformed-length",
        "negative-length",
        "listed-lengths",
        "duplicate-length",
        "length-then-chunked",
        "chunked-then-length",
        "gzip",
        "gzip-then-chunked",
    ],
)
def test_a_body_framed_ambiguously_is_refused_with_400(
    server: BaryonProcess, sock: socket.socket, extra: str
) -> None:
    log_offset = server.log_path.stat().st_size
    calls = _counter(server, "baryon_api_requests_total", "")
    sock.sendall(
        f"POST / HTTP/1.1\r\nHost: {_host(server)}\r\n{extra}\r\n3\r\nabc\r\n0\r\n\r\n".encode()
    )
    [answer] = _answers(sock, 1)
    assert answer.status == 400
    assert _closed_by_server(sock, 5)
    assert not _errors_logged(server, log_offset)
    assert _counter(server, "baryon_api_requests_total", "") == calls  # never reached the API


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        (b"GET /healthz HTTP/1.1\r\n\r\n", 400),
        (b"GET /healthz\r\n\r\n", 505),
        (b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 400),
    ],
    ids=["no-host", "http-0.9", "http-2.0", "connect"],
)
def test_a_head_h11_refused_is_refused(
    sock: socket.socket, request_head: bytes, status: int
) -> None:
    sock.sendall(request_head)
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk
        data += chunk
    assert data.startswith(b"HTTP/1.1 %d " % status), data
    assert _closed_by_server(sock, 5)


def test_an_upgrade_to_websocket_gets_an_ordinary_answer(
    server: BaryonProcess, sock: socket.socket
) -> None:
    log_offset = server.log_path.stat().st_size
    upgrade = (
        "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    )
    # A WebSocket frame sent after it must not be read as HTTP (nor as a second request).
    sock.sendall(_get(server, extra=upgrade) + _get(server))
    [answer] = _answers(sock, 1)
    assert answer.status == 200
    assert "upgrade" not in answer.headers
    assert answer.headers["connection"] == "close"
    assert _closed_by_server(sock, 5)
    assert not _errors_logged(server, log_offset)


def test_an_upgrade_with_a_body_is_refused(server: BaryonProcess, sock: socket.socket) -> None:
    calls = _counter(server, "baryon_api_requests_total", "")
    sock.sendall(
        (
            f"POST / HTTP/1.1\r\nHost: {_host(server)}\r\nConnection: Upgrade\r\n"
            "Upgrade: h2c\r\nContent-Length: 3\r\n\r\nabc"
        ).encode()
    )
    [answer] = _answers(sock, 1)
    assert answer.status == 400
    assert _closed_by_server(sock, 5)
    assert _counter(server, "baryon_api_requests_total", "") == calls
