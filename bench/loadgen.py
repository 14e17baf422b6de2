"""Closed-loop load on an AWS JSON endpoint from several processes of several threads.

Each thread holds one keep-alive connection and sends one request after the other. Every
request is signed with botocore's SigV4 signer (fresh X-Amz-Date each time), then timed from
its first byte sent to the last byte of the answer read; signing is outside the timing but
inside the loop, as for any real client. Threads in one Python process share its GIL, hence
the processes: ``processes x threads`` clients in all.
"""

from __future__ import annotations

import http.client
import multiprocessing
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bench.harness import REGION, percentile


@dataclass(frozen=True)
class JsonTarget:
    """One operation of one AWS JSON service, with the request bodies to send in turn."""

    endpoint: str  # http://127.0.0.1:PORT
    signing_name: str  # "proton", "dynamodb", "ecs"
    amz_target: str  # "AwsProton20200720.GetServiceInstance"
    content_type: str  # application/x-amz-json-1.0 or 1.1
    bodies: tuple[bytes, ...]
    access_key: tuple[str, str]
    region: str = REGION


@dataclass
class LoadResult:
    clients: str
    duration: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    client_cpu_seconds: float = 0.0
    # What ``probe`` counted during the measured window (CPU seconds, by name).
    probed: dict[str, float] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def rps(self) -> float:
        return self.requests / self.duration if self.duration else 0.0

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 0.99)

    @property
    def client_cores(self) -> float:
        return self.client_cpu_seconds / self.duration if self.duration else 0.0


class SignedConnection:
    """One keep-alive connection sending SigV4-signed AWS JSON requests."""

    def __init__(self, target: JsonTarget) -> None:
        self.target = target
        parts = urlsplit(target.endpoint)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.url = f"{target.endpoint}/"
        self.signer = SigV4Auth(Credentials(*target.access_key), target.signing_name, target.region)
        self.connection: http.client.HTTPConnection | None = None

    def headers(self, body: bytes) -> dict[str, str]:
        request = AWSRequest(
            method="POST",
            url=self.url,
            data=body,
            headers={
                "Content-Type": self.target.content_type,
                "X-Amz-Target": self.target.amz_target,
            },
        )
        self.signer.add_auth(request)
        return dict(request.headers.items())

    def send(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """Returns (status, body); status 0 means the connection failed."""
        try:
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self.connection.request("POST", "/", body=body, headers=headers)
            response = self.connection.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return 0, repr(exc).encode()

    def call(self, body: bytes) -> tuple[int, bytes, float]:
        """One request: (status, body, seconds from first byte out to last byte in)."""
        headers = self.headers(body)
        started = time.perf_counter()
        status, payload = self.send(body, headers)
        return status, payload, time.perf_counter() - started

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def run(
    target: JsonTarget,
    *,
    processes: int,
    threads: int,
    warmup: float,
    duration: float,
    probe: Callable[[], dict[str, float]] | None = None,
) -> LoadResult:
    """``warmup`` seconds of load, then ``duration`` seconds measured. ``probe`` returns
    cumulative counters (CPU seconds of the server, ...); their growth over the measured
    window lands in ``LoadResult.probed``."""
    context = multiprocessing.get_context("spawn")
    ready, results = context.Queue(), context.Queue()
    start_at = context.Value("d", 0.0)
    go = context.Event()
    children = [
        context.Process(
            target=_client_process,
            args=(target, threads, index, ready, go, start_at, results, warmup, duration),
            daemon=True,
        )
        for index in range(processes)
    ]
    for child in children:
        child.start()
    try:
        for _ in children:
            ready.get(timeout=120)
        begin = time.monotonic() + 0.2
        start_at.value = begin
        go.set()
        outcome = LoadResult(f"{processes} proc x {threads} threads", duration)
        if probe is not None:
            time.sleep(max(0.0, begin + warmup - time.monotonic()))
            first = probe()
            time.sleep(max(0.0, begin + warmup + duration - time.monotonic()))
            last = probe()
            outcome.probed = {name: last[name] - first[name] for name in first}
        for _ in children:
            latencies, errors, samples, cpu = results.get(timeout=warmup + duration + 180)
            outcome.latencies_ms.extend(latencies)
            outcome.errors += errors
            outcome.error_samples.extend(samples[: 3 - len(outcome.error_samples)])
            outcome.client_cpu_seconds += cpu
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.terminate()
                child.join()
    outcome.latencies_ms.sort()
    return outcome


def _client_process(
    target: JsonTarget,
    threads: int,
    index: int,
    ready: Any,
    go: Any,
    start_at: Any,
    results: Any,
    warmup: float,
    duration: float,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us after a Ctrl-C
    collected: list[tuple[list[float], int, list[str]]] = []
    lock = threading.Lock()
    cpu: list[float] = []
    ready.put(index)
    go.wait()
    begin = start_at.value
    window = (begin + warmup, begin + warmup + duration)

    def client(thread_index: int) -> None:
        rng = random.Random(index * 1000 + thread_index)
        connection = SignedConnection(target)
        bodies = target.bodies
        position = rng.randrange(len(bodies))
        latencies: list[float] = []
        errors, samples = 0, []
        while time.monotonic() < begin:
            time.sleep(0.001)
        while True:
            if time.monotonic() >= window[1]:
                break
            body = bodies[position % len(bodies)]
            position += 1
            headers = connection.headers(body)
            sent = time.monotonic()
            status, payload = connection.send(body, headers)
            elapsed = time.monotonic() - sent
            if sent < window[0]:
                continue
            if status == 200:
                latencies.append(elapsed * 1000)
            else:
                errors += 1
                if len(samples) < 3:
                    samples.append(f"{status}: {payload[:300]!r}")
        connection.close()
        with lock:
            collected.append((latencies, errors, samples))

    def cpu_meter() -> None:
        time.sleep(max(0.0, window[0] - time.monotonic()))
        first = time.process_time()
        time.sleep(max(0.0, window[1] - time.monotonic()))
        cpu.append(time.process_time() - first)

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    meter = threading.Thread(target=cpu_meter)
    for thread in [*workers, meter]:
        thread.start()
    for thread in [*workers, meter]:
        thread.join()
    latencies = [value for part in collected for value in part[0]]
    samples = [sample for part in collected for sample in part[2]]
    results.put((latencies, sum(part[1] for part in collected), samples, cpu[0] if cpu else 0.0))
