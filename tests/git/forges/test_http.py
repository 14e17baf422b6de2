"""A forge that stalls, cannot be reached, or answers too much or not JSON fails the call
with a ForgeError that says so; it never holds a worker or fills its memory."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from baryon.git.forges import ForgeError, ForgeLimits, GitHub, GitHubToken
from baryon.git.forges.github import GITHUB_API


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    for connection in accepted:
        connection.close()
    listener.close()


def _github(answer: httpx.Response, limits: ForgeLimits | None = None) -> GitHub:
    return GitHub(
        GitHubToken("t"), limits=limits, transport=httpx.MockTransport(lambda request: answer)
    )


def test_a_forge_that_never_answers_fails_the_call_after_the_timeout(silent_server: str) -> None:
    github = GitHub(
        GitHubToken("t"), api_url=silent_server, limits=ForgeLimits(timeout_seconds=0.3)
    )
    with pytest.raises(ForgeError, match=r"GitHub did not answer within 0\.3 seconds about"):
        github.default_branch("team/infra")


def test_a_forge_that_cannot_be_reached_says_so() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    github = GitHub(GitHubToken("t"), api_url=f"http://127.0.0.1:{port}")
    with pytest.raises(ForgeError, match="GitHub could not be reached about repository team/infra"):
        github.default_branch("team/infra")


def test_an_answer_larger_than_the_limit_is_not_read() -> None:
    small = ForgeLimits(max_response_bytes=1000)
    streamed = httpx.Response(200, content=iter([b"[" + b" " * 600, b" " * 600 + b"]"]))
    with pytest.raises(ForgeError, match="larger than 1000 bytes"):
        _github(streamed, small).default_branch("team/infra")
    declared = httpx.Response(200, content=b"{}", headers={"Content-Length": "5000"})
    with pytest.raises(ForgeError, match="larger than 1000 bytes"):
        _github(declared, small).default_branch("team/infra")


def test_an_answer_that_is_not_json_points_at_the_base_url() -> None:
    page = httpx.Response(200, content=b"<html>sign in</html>")
    with pytest.raises(ForgeError, match="not JSON; is the API base URL right"):
        _github(page).default_branch("team/infra")
    proxy = httpx.Response(502, content=b"<html>Bad Gateway</html>")
    with pytest.raises(ForgeError, match=r"GitHub answered 502 about .*: <html>Bad Gateway"):
        _github(proxy).default_branch("team/infra")


def test_the_default_api_is_githubs() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"default_branch": "main"})

    github = GitHub(GitHubToken("ghp_x"), transport=httpx.MockTransport(answer))
    assert github.default_branch("team/infra") == "main"
    assert str(seen[0].url) == f"{GITHUB_API}/repos/team/infra"
    assert seen[0].headers["authorization"] == "Bearer ghp_x"
    assert seen[0].headers["x-github-api-version"] == "2022-11-28"
    assert github.clone_url("team/infra") == "https://github.com/team/infra.git"
