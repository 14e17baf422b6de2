"""Baryon's git server: the real git CLI cloning from and pushing to the hosting app under
uvicorn on a loopback port, and raw HTTP for what git itself never sends."""

from __future__ import annotations

import base64
import gzip
import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from dulwich.objects import Commit, Tree
from dulwich.refs import Ref
from dulwich.repo import Repo

from baryon.app import create_app
from baryon.auth.access_keys import create_access_key
from baryon.git.hosting import HostedRepositories, RefUpdate, RepositoryNameError
from baryon.git.limits import GitLimits
from baryon.operations import portal_users
from baryon.runtime import build_runtime
from baryon.settings import Settings
from tests.git.conftest import KEY, SECRET, HostingFactory, git, serve

NAME = "team/templates"


def _clone(url: str, into: Path) -> None:
    git(into.parent, "clone", "-q", url, str(into))


def _commit_and_push(work: Path, files: dict[str, bytes], branch: str = "main") -> str:
    for path, content in files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_bytes(content)
        git(work, "add", path)
    git(work, "commit", "-q", "-m", "change")
    git(work, "push", "-q", "origin", f"HEAD:{branch}")
    return git(work, "rev-parse", "HEAD").stdout.strip()


def test_clone_commit_and_push_with_git_and_the_push_is_reported(
    start_hosting: HostingFactory, tmp_path: Path
) -> None:
    hosting = start_hosting()
    hosting.repositories.ensure(NAME)
    work = tmp_path / "clone"
    _clone(hosting.url(NAME), work)
    first = _commit_and_push(work, {"env/v1/schema/schema.yaml": b"schema: {}\n"})
    assert hosting.pushes == [(NAME, [RefUpdate("refs/heads/main", None, first)])]

    second = _commit_and_push(work, {"env/v1/more.txt": b"more"})
    git(work, "push", "-q", "origin", "HEAD:feature")
    git(work, "push", "-q", "origin", ":feature")
    assert hosting.pushes[1:] == [
        (NAME, [RefUpdate("refs/heads/main", first, second)]),
        (NAME, [RefUpdate("refs/heads/feature", None, second)]),
        (NAME, [RefUpdate("refs/heads/feature", second, None)]),
    ]

    again = tmp_path / "again"
    _clone(hosting.url(NAME), again)
    assert (again / "env/v1/more.txt").read_bytes() == b"more"
    git(work, "fetch", "-q", "origin")  # a fetch with something to negotiate works too
    assert _stored_head(hosting.repositories.path(NAME), "HEAD") == second


def test_wrong_or_missing_credentials_are_refused_with_401(
    start_hosting: HostingFactory, tmp_path: Path
) -> None:
    hosting = start_hosting()
    hosting.repositories.ensure(NAME)
    refused = git(tmp_path, "ls-remote", hosting.url(NAME, password="wrong"), check=False)
    assert refused.returncode != 0 and "Authentication failed" in refused.stderr
    plain = hosting.repositories.url(hosting.base_url, NAME)
    answer = httpx.get(f"{plain}/info/refs?service=git-upload-pack", timeout=30)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith('Basic realm="Baryon git"')
    for header in ("Bearer abc", "Basic !!!", "Basic " + "QQ==" * 2000):
        answer = httpx.get(
            f"{plain}/info/refs?service=git-upload-pack",
            headers={"Authorization": header},
            timeout=30,
        )
        assert answer.status_code == 401


def test_an_unknown_repository_is_404_and_a_push_creates_none(
    start_hosting: HostingFactory, tmp_path: Path
) -> None:
    hosting = start_hosting()
    hosting.repositories.ensure(NAME)
    missing = git(tmp_path, "ls-remote", hosting.url("team/missing"), check=False)
    assert missing.returncode != 0 and "not found" in missing.stderr
    work = tmp_path / "work"
    git(tmp_path, "init", "-q", str(work))
    git(work, "commit", "-q", "--allow-empty", "-m", "x")
    pushed = git(work, "push", "-q", hosting.url("team/missing"), "HEAD:main", check=False)
    assert pushed.returncode != 0
    assert not hosting.repositories.exists("team/missing")
    assert not (hosting.repositories.root / "team" / "missing.git").exists()
    assert hosting.pushes == []


def test_bad_names_are_refused(start_hosting: HostingFactory, tmp_path: Path) -> None:
    repositories = HostedRepositories(tmp_path / "hosted")
    for bad in ("../etc", "team", "a/b/c", "team/..", "./x", "/abs/x", "a/" + "x" * 101,
                "team/name.git", "team/sp ace", "team/new\nline", ""):  # fmt: skip
        with pytest.raises(RepositoryNameError):
            repositories.ensure(bad)
        assert not repositories.exists(bad)
    assert not (tmp_path / "hosted").exists() or not any((tmp_path / "hosted").rglob("*"))

    hosting = start_hosting()
    auth = (KEY, SECRET)
    for path in ("/git/%2E%2E/x.git/info/refs", "/git/team/sp%20ace.git/info/refs"):
        answer = httpx.get(
            f"{hosting.base_url}{path}?service=git-upload-pack", auth=auth, timeout=30
        )
        assert answer.status_code == 400, path
        assert "repository name" in answer.text
    answer = httpx.get(f"{hosting.base_url}/git/a/b/c.git/info/refs", auth=auth, timeout=30)
    assert answer.status_code == 404


def test_only_the_smart_protocol_is_served(start_hosting: HostingFactory) -> None:
    hosting = start_hosting()
    path = hosting.repositories.ensure(NAME)
    base = hosting.repositories.url(hosting.base_url, NAME)
    auth = (KEY, SECRET)
    assert httpx.get(f"{base}/info/refs", auth=auth, timeout=30).status_code == 403
    assert httpx.get(f"{base}/HEAD", auth=auth, timeout=30).status_code == 404
    assert httpx.get(f"{base}/config", auth=auth, timeout=30).status_code == 404
    assert httpx.post(f"{base}/info/refs", auth=auth, timeout=30).status_code == 405
    assert httpx.get(f"{base}/git-upload-pack", auth=auth, timeout=30).status_code == 405
    upload = httpx.get(f"{base}/info/refs?service=git-upload-archive", auth=auth, timeout=30)
    assert upload.status_code == 403
    assert (path / "config").exists()


def test_a_push_larger_than_the_limit_is_refused_and_changes_nothing(
    start_hosting: HostingFactory, tmp_path: Path
) -> None:
    hosting = start_hosting(limits=GitLimits(max_pack_bytes=100_000))
    hosting.repositories.ensure(NAME)
    work = tmp_path / "clone"
    _clone(hosting.url(NAME), work)
    small = _commit_and_push(work, {"small.txt": b"small"})
    (work / "big.bin").write_bytes(os.urandom(300_000))
    git(work, "add", "big.bin")
    git(work, "commit", "-q", "-m", "big")
    pushed = git(work, "push", "origin", "HEAD:main", check=False)
    assert pushed.returncode != 0
    assert "413" in pushed.stderr or "larger than" in pushed.stderr
    assert len(hosting.pushes) == 1
    assert _stored_head(hosting.repositories.path(NAME)) == small


def test_a_gzip_request_is_inflated_within_the_limit(start_hosting: HostingFactory) -> None:
    hosting = start_hosting(limits=GitLimits(max_pack_bytes=100_000))
    path = hosting.repositories.ensure(NAME)
    base = hosting.repositories.url(hosting.base_url, NAME)
    repo = Repo(str(path))
    blob_commit = _empty_commit(repo)
    repo.close()
    negotiation = (
        _pkt(f"want {blob_commit} side-band-64k thin-pack ofs-delta\n") + b"0000" + _pkt("done\n")
    )
    headers = {
        "Content-Type": "application/x-git-upload-pack-request",
        "Content-Encoding": "gzip",
    }
    answer = httpx.post(
        f"{base}/git-upload-pack",
        content=gzip.compress(negotiation),
        headers=headers,
        auth=(KEY, SECRET),
        timeout=30,
    )
    assert answer.status_code == 200 and b"PACK" in answer.content
    bomb = gzip.compress(b"0" * 10_000_000)  # ten megabytes inflated from a few kilobytes
    answer = httpx.post(
        f"{base}/git-upload-pack", content=bomb, headers=headers, auth=(KEY, SECRET), timeout=30
    )
    assert answer.status_code == 413 and "max_pack_bytes" in answer.text


def test_a_stalled_request_body_is_cut_off(start_hosting: HostingFactory) -> None:
    hosting = start_hosting(limits=GitLimits(request_idle_seconds=0.5))
    hosting.repositories.ensure(NAME)
    port = int(hosting.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"POST /git/team/templates.git/git-receive-pack HTTP/1.1\r\n"
            b"Host: 127.0.0.1\r\n"
            b"Authorization: Basic " + _basic(KEY, SECRET) + b"\r\n"
            b"Content-Type: application/x-git-receive-pack-request\r\n"
            b"Content-Length: 1000\r\n\r\n" + b"0" * 10
        )
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408")


def test_a_failing_push_handler_does_not_fail_the_push(
    start_hosting: HostingFactory, tmp_path: Path
) -> None:
    def broken(_name: str, _updates: Sequence[RefUpdate]) -> None:
        raise RuntimeError("the job queue is down")

    hosting = start_hosting(on_push=broken)
    hosting.repositories.ensure(NAME)
    work = tmp_path / "clone"
    _clone(hosting.url(NAME), work)
    sha = _commit_and_push(work, {"a": b"a"})
    assert hosting.pushes == [(NAME, [RefUpdate("refs/heads/main", None, sha)])]


def test_hosted_repositories_are_made_found_addressed_and_deleted(tmp_path: Path) -> None:
    repositories = HostedRepositories(tmp_path / "git")
    assert not repositories.exists(NAME)
    path = repositories.ensure(NAME)
    assert path == tmp_path / "git" / "team" / "templates.git"
    assert repositories.ensure(NAME) == path and repositories.exists(NAME)
    assert git(path, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/main"
    assert repositories.url("http://127.0.0.1:8300/", NAME) == (
        "http://127.0.0.1:8300/git/team/templates.git"
    )
    repositories.ensure("team/other")
    repositories.delete(NAME)
    assert not repositories.exists(NAME) and not path.exists()
    assert repositories.exists("team/other")
    repositories.delete("team/other")
    assert not (tmp_path / "git" / "team").exists()


def test_baryon_serves_git_to_access_keys_and_portal_users(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", master_key="")
    settings.data_dir.mkdir()
    runtime = build_runtime(settings)
    try:
        key = create_access_key(runtime.db, runtime.box, "git test")
        with runtime.db.session(write=True) as session:
            portal_users.create_user(session, "alice", "a-long-password", datetime.now(UTC))
        HostedRepositories(settings.git_hosting_dir).ensure(NAME)
        running = serve(create_app(runtime))
        base = next(running)
        try:
            url = f"{base}/git/{NAME}.git"
            secret = quote(key.secret_access_key, safe="")
            with_key = url.replace("http://", f"http://{key.access_key_id}:{secret}@")
            work = tmp_path / "clone"
            _clone(with_key, work)
            sha = _commit_and_push(work, {"a.txt": b"a"})
            listed = git(
                tmp_path, "ls-remote", url.replace("http://", "http://alice:a-long-password@")
            )
            assert f"{sha}\trefs/heads/main" in listed.stdout
            wrong = url.replace("http://", f"http://{key.access_key_id}:wrong@")
            assert git(tmp_path, "ls-remote", wrong, check=False).returncode != 0
        finally:
            next(running, None)
        without = build_runtime(settings.replace(git_hosting=False))
        try:
            paths = [getattr(route, "path", "") for route in create_app(without).routes]
        finally:
            without.close()
        assert "/git" not in paths
    finally:
        runtime.close()


def _stored_head(bare: Path, ref: str = "refs/heads/main") -> str:
    return git(bare, "rev-parse", ref).stdout.strip()


def _pkt(text: str) -> bytes:
    data = text.encode()
    return f"{len(data) + 4:04x}".encode() + data


def _basic(user: str, password: str) -> bytes:
    return base64.b64encode(f"{user}:{password}".encode())


def _empty_commit(repo: Repo) -> str:
    tree = Tree()
    repo.object_store.add_object(tree)
    commit = Commit()
    commit.tree = tree.id
    commit.author = commit.committer = b"T <t@example.com>"
    commit.author_time = commit.commit_time = 0
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = b"empty\n"
    repo.object_store.add_object(commit)
    repo.refs[Ref(b"refs/heads/main")] = commit.id
    return commit.id.decode()
