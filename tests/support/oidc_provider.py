"""A real OpenID Connect provider (the npm package ``oidc-provider``, tests/support/oidc/) on a
free loopback port, for the portal's sign-in tests. Its login form takes any password; the user
name picks a test user (provider.mjs): ``dev`` is in the group ``developers``, ``plat`` in
``platform-engineers``."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "oidc"
CLIENT_ID, CLIENT_SECRET = "baryon-portal", "a client secret of the tests"


@dataclass(frozen=True)
class OidcProvider:
    issuer: str
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET


def _require() -> None:
    if shutil.which("node") and (HERE / "node_modules" / "oidc-provider").is_dir():
        return
    message = "needs node and `npm ci --prefix tests/support/oidc` (scripts/dev-setup runs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def oidc_provider() -> Iterator[OidcProvider]:
    _require()
    process = subprocess.Popen(
        ["node", str(HERE / "provider.mjs"), CLIENT_ID, CLIENT_SECRET],
        stdout=subprocess.PIPE,
        # Its warnings (the development login form, the in-memory store) go to standard error.
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=HERE,
    )
    try:
        first: list[str] = []
        reader = threading.Thread(
            target=lambda: first.append(process.stdout.readline() if process.stdout else ""),
            daemon=True,
        )
        reader.start()
        reader.join(timeout=30)
        line = first[0] if first else ""
        assert line.startswith("issuer "), f"the provider did not start: {line!r}"
        yield OidcProvider(line.split()[1])
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
