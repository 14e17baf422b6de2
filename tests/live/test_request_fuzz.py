"""Thousands of hostile, correctly signed requests made from the models: none may answer 5xx,
and the server stays responsive while they arrive.

Every operation of the Proton and baryon models, every member: wrong types, lengths at and past
the limits, strings built against each pattern, deep nesting, invalid Unicode, numbers that are
not numbers, and bodies larger than the server accepts. A separate process probes /healthz
throughout, so the probe's own latency is not bent by this process's threads.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from baryon.api.front_door import MAX_BODY_BYTES
from baryon.service_models import BARYON, PROTON, service_model
from tests.support.fuzz_inputs import FuzzCase, all_cases
from tests.support.processes import BaryonProcess, start_baryon

SENDERS = 4

# Polls /healthz in its own interpreter until a line arrives on stdin, then prints every
# latency in ms as one JSON list.
_PROBE = """
import json, select, sys, time, httpx
latencies = []
with httpx.Client(timeout=10) as client:
    while not select.select([sys.stdin], [], [], 0)[0]:
        started = time.perf_counter()
        try:
            client.get(sys.argv[1]).raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
        except httpx.HTTPError:
            latencies.append(1e9)  # no answer, or not a healthy one: slower than any bound
        time.sleep(0.02)
print(json.dumps(latencies))
"""


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaryonProcess]:
    process = start_baryon(tmp_path_factory.mktemp("fuzz"))
    yield process
    process.stop()


@dataclass(frozen=True)
class Answer:
    case: FuzzCase
    status: int
    body: bytes


class _Signer:
    def __init__(self, baryon: BaryonProcess) -> None:
        self.endpoint = baryon.endpoint
        self.region = baryon.exports["AWS_DEFAULT_REGION"]
        self.credentials = Credentials(
            baryon.exports["AWS_ACCESS_KEY_ID"], baryon.exports["AWS_SECRET_ACCESS_KEY"]
        )
        self.targets = {
            service: service_model(service).metadata["targetPrefix"] for service in (PROTON, BARYON)
        }
        self.signing_names = {
            service: service_model(service).signing_name for service in (PROTON, BARYON)
        }

    def headers(self, service: str, operation: str, body: bytes) -> dict[str, str]:
        request = AWSRequest(
            method="POST",
            url=self.endpoint + "/",
            data=body,
            headers={
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": f"{self.targets[service]}.{operation}",
            },
        )
        SigV4Auth(self.credentials, self.signing_names[service], self.region).add_auth(request)
        return dict(request.headers.items())


def _send_all(signer: _Signer, cases: list[tuple[str, FuzzCase]]) -> list[Answer]:
    answers: list[Answer] = []
    lock = threading.Lock()
    local = threading.local()

    def send(item: tuple[str, FuzzCase]) -> None:
        service, case = item
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=60)
        headers = signer.headers(service, case.operation, case.body)
        try:
            response = local.client.post(signer.endpoint + "/", content=case.body, headers=headers)
            answer = Answer(case, response.status_code, response.content[:300])
        except httpx.HTTPError as exc:
            answer = Answer(case, 599, f"no answer: {exc!r}".encode())
        with lock:
            answers.append(answer)

    with ThreadPoolExecutor(SENDERS) as pool:
        list(pool.map(send, cases))
    return answers


def _send_declared_oversize(signer: _Signer, operation: str) -> int:
    """Declares a body past the limit and sends only its headers: the refusal must not wait."""
    declared = MAX_BODY_BYTES + 1
    headers = signer.headers(PROTON, operation, b"{}")
    headers["Content-Length"] = str(declared)
    address = urlsplit(signer.endpoint)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        lines = ["POST / HTTP/1.1", f"Host: {address.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items() if name != "Host"]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = sock.recv(4096).decode("latin-1")
    return int(head.split(" ", 2)[1])


def _send_chunked_oversize(signer: _Signer, operation: str) -> int | None:
    """Streams a chunked body past the limit; the status, or None if the server hung up."""
    chunk = b"[" * 65536
    headers = signer.headers(PROTON, operation, b"")
    address = urlsplit(signer.endpoint)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        lines = ["POST / HTTP/1.1", f"Host: {address.netloc}", "Transfer-Encoding: chunked"]
        lines += [
            f"{name}: {value}"
            for name, value in headers.items()
            if name not in ("Host", "Content-Length")
        ]
        try:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            for _ in range(MAX_BODY_BYTES // len(chunk) + 8):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            head = sock.recv(4096).decode("latin-1")
        except ConnectionResetError:
            return None
    return int(head.split(" ", 2)[1]) if head else None


def _probe(url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _PROBE, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _all_cases() -> list[tuple[str, FuzzCase]]:
    return [
        (service, case)
        for service in (PROTON, BARYON)
        for case in all_cases(service_model(service))
    ]


def test_five_thousand_hostile_signed_requests_get_no_5xx_and_health_stays_fast(
    fuzz_target: BaryonProcess,
) -> None:
    signer = _Signer(fuzz_target)
    cases = _all_cases()
    assert len(cases) >= 5000
    operations = service_model(PROTON).operation_names

    probe = _probe(fuzz_target.endpoint + "/healthz")
    try:
        answers = _send_all(signer, cases)
        declared = {name: _send_declared_oversize(signer, name) for name in operations}
        chunked = {name: _send_chunked_oversize(signer, name) for name in operations[::10]}
    finally:
        out, _ = probe.communicate("stop\n", timeout=60)
    latencies: list[float] = json.loads(out)

    failures = [
        f"{a.case.operation} [{a.case.label}] -> {a.status}: {a.body[:200]!r}"
        for a in answers
        if a.status >= 500
    ]
    assert not failures, f"{len(failures)} of {len(answers)} answered 5xx:\n" + "\n".join(
        failures[:40]
    )
    assert len(answers) == len(cases)
    assert {status for status in declared.values()} <= set(range(400, 500)), declared
    assert all(status is None or 400 <= status < 500 for status in chunked.values()), chunked
    assert len(latencies) > 20
    summary = (
        f"/healthz p99 {_p99(latencies):.1f} ms, slowest {max(latencies):.1f} ms"
        f" over {len(latencies)} probes"
    )
    # A stall, not a speed: one request that froze the event loop (a pattern backtracking, a
    # body read that blocks) shows as a probe waiting for seconds. The p99 is printed, not
    # asserted: it measures the machine's load as much as the server (100 ms held on an idle
    # machine; 317 ms with three test workers and other work on two cores).
    assert max(latencies) < 2000, summary
    print(f"{len(answers) + len(declared) + len(chunked)} hostile requests, no 5xx; {summary}")


def test_the_fuzzed_server_logged_no_error_and_still_answers(
    fuzz_target: BaryonProcess,
) -> None:
    proton: Any = fuzz_target.client("proton")
    assert "templates" in proton.list_environment_templates()
    log = Path(fuzz_target.log_path).read_text(errors="replace")
    errors = [line for line in log.splitlines() if " ERROR " in line or "Traceback" in line]
    assert not errors, "\n".join(errors[:20])
