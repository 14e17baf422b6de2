"""GitRemote against real repositories: bare ones on disk changed with the git CLI, and one
served over HTTP by Baryon's own git server."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from baryon.git.cache import cache_folder
from baryon.git.credentials import GitCredentials
from baryon.git.errors import GitAuthRefused, GitError, GitLimitExceeded, GitNotFound
from baryon.git.limits import GitLimits
from baryon.git.remote import GitRemote
from tests.git.conftest import KEY, SECRET, HostingFactory, Origin, free_port, git

AUTHOR = "Baryon <baryon@example.com>"
NOBODY = GitCredentials()


def remote(origin: Origin, cache: Path, limits: GitLimits | None = None) -> GitRemote:
    return GitRemote(origin.url, NOBODY, cache, limits)


def test_branches_and_their_heads_are_the_remotes_as_it_is_now(
    origin: Origin, tmp_path: Path
) -> None:
    first = origin.commit({"README.md": b"hello\n"})
    repo = remote(origin, tmp_path / "cache")
    assert repo.branches() == {"main": first}
    feature = origin.commit({"a.txt": b"a"}, branch="feature")
    second = origin.commit({"README.md": b"hello again\n"})
    assert repo.branches() == {"main": second, "feature": feature}
    assert repo.branch_head("main") == second
    assert repo.branch_head("missing") is None
    git(origin.bare, "branch", "-D", "feature")
    assert repo.branches() == {"main": second}


def test_files_at_gives_every_file_under_a_folder_relative_to_it(
    origin: Origin, tmp_path: Path
) -> None:
    (origin.work / "env").mkdir()
    os.symlink("../etc/passwd", origin.work / "env" / "link")
    git(origin.work, "add", "env/link")
    sha = origin.commit(
        {
            "env/v1/infrastructure/manifest.yaml": b"infrastructure: {}\n",
            "env/v1/schema/schema.yaml": b"schema: {}\n",
            "env/v2/schema/schema.yaml": b"v2\n",
            "svc/v1/x.txt": b"x",
            "top.txt": b"top",
        }
    )
    repo = remote(origin, tmp_path / "cache")
    assert repo.files_at(sha, "env/v1") == {
        "infrastructure/manifest.yaml": b"infrastructure: {}\n",
        "schema/schema.yaml": b"schema: {}\n",
    }
    everything = repo.files_at(sha)
    assert set(everything) == {
        "env/v1/infrastructure/manifest.yaml",
        "env/v1/schema/schema.yaml",
        "env/v2/schema/schema.yaml",
        "svc/v1/x.txt",
        "top.txt",
    }  # the symbolic link is not a file of the repository's content
    assert repo.files_at(sha, "nowhere") == {}
    assert repo.files_at(sha, "top.txt") == {}  # a file is not a folder
    assert repo.folders_at(sha) == ["env", "svc"]
    assert repo.folders_at(sha, "env") == ["v1", "v2"]
    assert repo.folders_at(sha, "env/v1/schema") == []


def test_reading_a_commit_that_does_not_exist_says_so(origin: Origin, tmp_path: Path) -> None:
    origin.commit({"a": b"a"})
    repo = remote(origin, tmp_path / "cache")
    with pytest.raises(GitNotFound, match=r"commit 0{40} is not in any branch"):
        repo.files_at("0" * 40)
    with pytest.raises(GitError, match="not a commit id"):
        repo.files_at("HEAD")
    with pytest.raises(GitError, match="not a safe path"):
        repo.files_at(origin.head(), "../outside")


def test_changed_paths_between_two_commits_and_from_nothing(origin: Origin, tmp_path: Path) -> None:
    first = origin.commit({"a/one.txt": b"1", "a/two.txt": b"2", "b/three.txt": b"3"})
    git(origin.work, "mv", "b/three.txt", "b/moved.txt")
    second = origin.commit({"a/one.txt": b"changed", "a/two.txt": None, "c/new.txt": b"new"})
    repo = remote(origin, tmp_path / "cache")
    assert repo.changed_paths(None, first) == {"a/one.txt", "a/two.txt", "b/three.txt"}
    assert repo.changed_paths(first, second) == {
        "a/one.txt",
        "a/two.txt",
        "b/three.txt",
        "b/moved.txt",
        "c/new.txt",
    }
    assert repo.changed_paths(second, second) == set()


def test_commit_files_starts_a_branch_from_the_base_and_is_idempotent(
    origin: Origin, tmp_path: Path
) -> None:
    base = origin.commit({"keep.txt": b"keep", "old.txt": b"old"})
    repo = remote(origin, tmp_path / "cache")
    changes: dict[str, bytes | None] = {
        "env/proton.auto.tfvars.json": b'{"a": 1}\n',
        "old.txt": None,
    }
    sha = repo.commit_files(
        base_branch="main", branch="proton-env", changes=changes, message="Deploy", author=AUTHOR
    )
    assert origin.head("proton-env") == sha and origin.head("main") == base
    assert git(origin.bare, "rev-parse", f"{sha}^").stdout.strip() == base
    assert git(origin.bare, "log", "-1", "--format=%an <%ae>|%s", sha).stdout.strip() == (
        f"{AUTHOR}|Deploy"
    )
    listed = git(origin.bare, "ls-tree", "-r", "--name-only", sha).stdout.split()
    assert listed == ["env/proton.auto.tfvars.json", "keep.txt"]

    # Called again after a crash: nothing changes, no second commit.
    again = repo.commit_files(
        base_branch="main", branch="proton-env", changes=changes, message="Deploy", author=AUTHOR
    )
    assert again == sha
    assert git(origin.bare, "rev-list", "--count", "proton-env").stdout.strip() == "2"


def test_commit_files_builds_on_an_existing_branch_and_deletes_files(
    origin: Origin, tmp_path: Path
) -> None:
    origin.commit({"a.txt": b"a"})
    repo = remote(origin, tmp_path / "cache")
    first = repo.commit_files(
        base_branch="main", branch="pr", changes={"x/y.txt": b"1"}, message="one", author=AUTHOR
    )
    second = repo.commit_files(
        base_branch="main",
        branch="pr",
        changes={"x/y.txt": None, "z.txt": b"2"},
        message="two",
        author=AUTHOR,
    )
    assert git(origin.bare, "rev-parse", f"{second}^").stdout.strip() == first
    listed = git(origin.bare, "ls-tree", "-r", "--name-only", second).stdout.split()
    assert listed == ["a.txt", "z.txt"]  # the emptied folder x/ is gone


def test_commit_files_with_no_change_makes_the_branch_at_the_base(
    origin: Origin, tmp_path: Path
) -> None:
    base = origin.commit({"a.txt": b"a"})
    repo = remote(origin, tmp_path / "cache")
    sha = repo.commit_files(
        base_branch="main", branch="same", changes={"a.txt": b"a"}, message="m", author=AUTHOR
    )
    assert sha == base == origin.head("same")


def test_commit_files_on_an_empty_repository_starts_from_nothing(
    origin: Origin, tmp_path: Path
) -> None:
    repo = remote(origin, tmp_path / "cache")
    assert repo.branches() == {}
    sha = repo.commit_files(
        base_branch="main", branch="main", changes={"a.txt": b"a"}, message="m", author=AUTHOR
    )
    assert origin.head("main") == sha
    assert git(origin.bare, "rev-list", "--count", "main").stdout.strip() == "1"


def test_commit_files_refuses_a_missing_base_branch_and_unsafe_paths(
    origin: Origin, tmp_path: Path
) -> None:
    origin.commit({"file": b"f"})
    repo = remote(origin, tmp_path / "cache")

    def commit(changes: dict[str, bytes | None], base: str = "main") -> str:
        return repo.commit_files(
            base_branch=base, branch="pr", changes=changes, message="m", author=AUTHOR
        )

    with pytest.raises(GitNotFound, match="branch 'develop' does not exist"):
        commit({"a": b"a"}, base="develop")
    for path in ("../escape", "a/../../b", ".git/config", "a//b", "a\x00b", "sub/.GIT/hooks"):
        with pytest.raises(GitError, match="not a safe path"):
            commit({path: b"x"})
    with pytest.raises(GitError, match="'file' is a file"):
        commit({"file/inside": b"x"})
    with pytest.raises(GitError, match="not a valid git branch name"):
        repo.commit_files(
            base_branch="main", branch="bad..name", changes={}, message="m", author=AUTHOR
        )
    with pytest.raises(ValueError, match="Name <email>"):
        repo.commit_files(base_branch="main", branch="pr", changes={}, message="m", author="x")
    assert origin.branches() == {"main"}


def test_a_branch_that_moves_during_a_commit_is_built_on_not_overwritten(
    origin: Origin, tmp_path: Path
) -> None:
    origin.commit({"a": b"a"})
    repo = remote(origin, tmp_path / "cache")
    repo.commit_files(
        base_branch="main", branch="pr", changes={"b": b"b"}, message="m", author=AUTHOR
    )
    build = repo._build_commit
    moved: list[str] = []

    def build_after_someone_pushes(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not moved:  # someone else pushes to the branch between Baryon's fetch and push
            moved.append(origin.commit({"theirs": b"t"}, branch="pr"))
        return build(*args, **kwargs)

    repo._build_commit = build_after_someone_pushes  # type: ignore[method-assign]
    sha = repo.commit_files(
        base_branch="main", branch="pr", changes={"ours": b"o"}, message="m", author=AUTHOR
    )
    assert git(origin.bare, "rev-parse", f"{sha}^").stdout.strip() == moved[0]
    listed = git(origin.bare, "ls-tree", "-r", "--name-only", sha).stdout.split()
    assert listed == ["a", "b", "ours", "theirs"]


def test_contains_is_true_once_the_target_branch_has_the_commit(
    origin: Origin, tmp_path: Path
) -> None:
    origin.commit({"a": b"a"})
    repo = remote(origin, tmp_path / "cache")
    sha = repo.commit_files(
        base_branch="main", branch="pr", changes={"b": b"b"}, message="m", author=AUTHOR
    )
    assert repo.contains("pr", sha)
    assert not repo.contains("main", sha)
    assert not repo.contains("no-such-branch", sha)
    origin.commit({"c": b"c"})  # main moves on, then the pull request is merged
    git(origin.work, "fetch", "-q", "origin")
    git(origin.work, "merge", "-q", "--no-ff", "-m", "merge", "origin/pr")
    git(origin.work, "push", "-q", "origin", "main")
    origin.commit({"d": b"d"})
    assert repo.contains("main", sha)
    assert repo.contains("main", origin.head())
    assert not repo.contains("main", "1" * 40)


def test_delete_branch_removes_it_and_leaves_a_missing_one_alone(
    origin: Origin, tmp_path: Path
) -> None:
    origin.commit({"a": b"a"})
    origin.commit({"b": b"b"}, branch="pr")
    repo = remote(origin, tmp_path / "cache")
    repo.delete_branch("pr")
    assert origin.branches() == {"main"}
    assert repo.branches() == {"main": origin.head()}
    repo.delete_branch("pr")
    assert origin.branches() == {"main"}


def test_a_pack_larger_than_the_limit_is_refused_and_the_cache_still_works(
    origin: Origin, tmp_path: Path
) -> None:
    sha = origin.commit({"big.bin": os.urandom(200_000)})
    cache = tmp_path / "cache"
    small = remote(origin, cache, GitLimits(max_pack_bytes=50_000))
    with pytest.raises(GitLimitExceeded, match="max_pack_bytes"):
        small.branches()
    assert remote(origin, cache).branches() == {"main": sha}


def test_limits_on_reading_files_name_the_limit(origin: Origin, tmp_path: Path) -> None:
    deep = "/".join(f"d{i}" for i in range(6)) + "/f.txt"
    sha = origin.commit(
        {"many/1": b"1", "many/2": b"2", "many/3": b"3", "big/f": b"x" * 2000, deep: b"deep"}
    )
    cache = tmp_path / "cache"
    with pytest.raises(GitLimitExceeded, match="max_files"):
        remote(origin, cache, GitLimits(max_files=2)).files_at(sha, "many")
    with pytest.raises(GitLimitExceeded, match="max_file_bytes"):
        remote(origin, cache, GitLimits(max_file_bytes=1000)).files_at(sha, "big")
    with pytest.raises(GitLimitExceeded, match="max_total_bytes"):
        remote(origin, cache, GitLimits(max_total_bytes=1000)).files_at(sha)
    with pytest.raises(GitLimitExceeded, match="max_path_depth"):
        remote(origin, cache, GitLimits(max_path_depth=4)).files_at(sha, "d0")
    with pytest.raises(GitLimitExceeded, match="max_files"):
        remote(origin, cache, GitLimits(max_files=2)).changed_paths(None, sha)
    with pytest.raises(GitLimitExceeded, match="max_file_bytes"):
        remote(origin, cache, GitLimits(max_file_bytes=10)).commit_files(
            base_branch="main", branch="pr", changes={"f": b"x" * 11}, message="m", author=AUTHOR
        )


def test_unreachable_and_unsupported_urls_are_git_errors_naming_the_url(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    port = free_port()  # nothing listens there any more
    for url in (f"http://127.0.0.1:{port}/team/repo.git", f"ssh://git@127.0.0.1:{port}/r.git"):
        with pytest.raises(GitError) as caught:
            GitRemote(url, NOBODY, cache).branches()
        assert url in str(caught.value) and "refused" in str(caught.value).lower()
        assert "Traceback" not in str(caught.value)
    with pytest.raises(GitNotFound, match=f"{tmp_path}/nothing: there is no git repository"):
        GitRemote(str(tmp_path / "nothing"), NOBODY, cache).branches()
    with pytest.raises(GitError, match="unsupported URL scheme 'git'"):
        GitRemote("git://example.com/repo.git", NOBODY, cache)
    with pytest.raises(GitError, match="not a git URL"):
        GitRemote("relative/path", NOBODY, cache)


def test_a_password_in_the_url_is_never_shown(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://user:hunter2@127.0.0.1:{port}/repo.git"
    with pytest.raises(GitError) as caught:
        GitRemote(url, NOBODY, tmp_path).branches()
    assert "hunter2" not in str(caught.value)
    assert f"http://user:***@127.0.0.1:{port}/repo.git" in str(caught.value)


def test_a_killed_writer_or_a_broken_cache_does_not_break_the_next_call(
    origin: Origin, tmp_path: Path
) -> None:
    sha = origin.commit({"a": b"a"})
    cache = tmp_path / "cache"
    assert remote(origin, cache).branches() == {"main": sha}
    folder = cache_folder(cache, origin.url)
    (folder / "refs" / "heads" / "main.lock").write_text("half-written")
    (folder / "packed-refs.lock").write_text("")
    newer = origin.commit({"b": b"b"})
    assert remote(origin, cache).branches() == {"main": newer}

    shutil.rmtree(folder / "objects")  # a disk that filled up, a person who tidied
    (folder / "HEAD").unlink()
    assert remote(origin, cache).files_at(newer) == {"a": b"a", "b": b"b"}


def test_threads_sharing_one_cache_commit_to_their_own_branches(
    origin: Origin, tmp_path: Path
) -> None:
    origin.commit({"a": b"a"})
    cache = tmp_path / "cache"
    results: dict[str, str] = {}
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            repo = remote(origin, cache)  # one GitRemote each: they meet only in the cache
            results[f"b{index}"] = repo.commit_files(
                base_branch="main",
                branch=f"b{index}",
                changes={f"f{index}": str(index).encode()},
                message=f"commit {index}",
                author=AUTHOR,
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert origin.branches() == {"main", "b0", "b1", "b2", "b3"}
    for branch, sha in results.items():
        assert origin.head(branch) == sha


def test_an_https_style_remote_over_baryons_git_server_with_basic_auth(
    start_hosting: HostingFactory, tmp_path: Path
) -> None:
    hosting = start_hosting()
    hosting.repositories.ensure("team/provisioning")
    url = hosting.repositories.url(hosting.base_url, "team/provisioning")
    repo = GitRemote(url, GitCredentials(KEY, SECRET), tmp_path / "cache")
    assert repo.branches() == {}
    first = repo.commit_files(
        base_branch="main", branch="main", changes={"a.txt": b"a"}, message="m", author=AUTHOR
    )
    sha = repo.commit_files(
        base_branch="main", branch="pr", changes={"b.txt": b"b"}, message="m", author=AUTHOR
    )
    assert repo.branches() == {"main": first, "pr": sha}
    assert repo.files_at(sha) == {"a.txt": b"a", "b.txt": b"b"}
    repo.delete_branch("pr")
    assert repo.branches() == {"main": first}
    assert [(name, [u.ref for u in updates]) for name, updates in hosting.pushes] == [
        ("team/provisioning", ["refs/heads/main"]),
        ("team/provisioning", ["refs/heads/pr"]),
        ("team/provisioning", ["refs/heads/pr"]),
    ]

    wrong = GitRemote(url, GitCredentials(KEY, "wrong"), tmp_path / "cache")
    with pytest.raises(GitAuthRefused, match="refused the credentials") as caught:
        wrong.branches()
    assert url in str(caught.value) and "wrong" not in str(caught.value)
    with pytest.raises(GitNotFound, match="no git repository there"):
        GitRemote(
            hosting.repositories.url(hosting.base_url, "team/missing"),
            GitCredentials(KEY, SECRET),
            tmp_path / "cache",
        ).branches()


FAKE_SSH = """#!/bin/sh
# Stands in for OpenSSH: records how it was called and the key it was given, then runs the
# remote command (git-upload-pack or git-receive-pack) here, as sshd would there.
key=""
previous=""
for argument in "$@"; do
  if [ "$previous" = "-i" ]; then key="$argument"; fi
  previous="$argument"
  command="$argument"
done
printf '%s\\n' "$@" >> "$FAKE_SSH_LOG.args"
if [ -n "$key" ]; then
  stat -c %a "$key" > "$FAKE_SSH_LOG.mode"
  cat "$key" > "$FAKE_SSH_LOG.key"
fi
exec sh -c "$command"
"""


@pytest.mark.parametrize("form", ["ssh://git@localhost{path}", "git@localhost:{path}"])
def test_ssh_urls_run_ssh_with_a_private_key_file_that_is_removed_afterwards(
    origin: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "ssh").write_text(FAKE_SSH)
    (fake_bin / "ssh").chmod(0o755)
    log = tmp_path / "ssh"
    monkeypatch.setenv("PATH", f"{fake_bin}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SSH_LOG", str(log))
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----"
    sha = origin.commit({"a": b"a"})
    repo = GitRemote(
        form.format(path=origin.bare), GitCredentials(ssh_private_key=key), tmp_path / "cache"
    )
    assert repo.branches() == {"main": sha}
    pushed = repo.commit_files(
        base_branch="main", branch="pr", changes={"b": b"b"}, message="m", author=AUTHOR
    )
    assert origin.head("pr") == pushed
    arguments = log.with_suffix(".args").read_text().splitlines()
    assert "StrictHostKeyChecking=accept-new" in arguments and "BatchMode=yes" in arguments
    assert f"UserKnownHostsFile={tmp_path / 'cache' / 'known_hosts'}" in arguments
    assert "IdentitiesOnly=yes" in arguments and "git@localhost" in arguments
    assert log.with_suffix(".mode").read_text().strip() == "600"
    assert log.with_suffix(".key").read_text() == key + "\n"
    key_file = Path(arguments[arguments.index("-i") + 1])
    assert not key_file.exists() and not key_file.parent.exists()
