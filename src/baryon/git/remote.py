"""One remote repository, mirrored into a local bare cache: its branches, the files of a
commit, what changed between two commits, and commits pushed to a branch.

Every method is safe to call from several threads (and processes) at once: they queue on the
cache folder's lock (cache.py). Every method that names a branch fetches first, so answers
are about the remote as it is now; reading a commit fetches only when the cache lacks it.
"""

from __future__ import annotations

import re
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from tempfile import SpooledTemporaryFile

from dulwich.diff_tree import tree_changes
from dulwich.graph import can_fast_forward
from dulwich.object_store import commit_tree_changes
from dulwich.objects import ZERO_SHA, Blob, Commit, ObjectID, Tree, valid_hexsha
from dulwich.pack import PACK_SPOOL_FILE_MAX_SIZE
from dulwich.protocol import PEELED_TAG_SUFFIX
from dulwich.refs import Ref
from dulwich.repo import Repo

from baryon.git.cache import cache_folder, opened_cache
from baryon.git.credentials import GitCredentials
from baryon.git.errors import GitConflict, GitError, GitLimitExceeded, GitNotFound
from baryon.git.limits import GitLimits
from baryon.git.repo_paths import HEADS, branch_ref, check_depth, decoded, path_parts
from baryon.git.transport import Connection, connect, parse_location, translated

# A branch that moves on the remote between Baryon's fetch and its push is fetched and built
# on again this many times before the caller hears of the conflict.
PUSH_ATTEMPTS = 3
# "Name <email>", as git writes authors.
_AUTHOR = re.compile(r"^[^<>\n]+ <[^<>\n]*>$")
_FILE_MODE = stat.S_IFREG | 0o644
_REGULAR_MODES = frozenset({stat.S_IFREG | 0o644, stat.S_IFREG | 0o755})


class _BranchMoved(GitConflict):
    """The remote's branch is not where the commit was built on: build again."""


class GitRemote:
    def __init__(
        self,
        url: str,
        credentials: GitCredentials,
        cache_dir: Path,
        limits: GitLimits | None = None,
    ) -> None:
        self._location = parse_location(url)
        self._credentials = credentials
        self._limits = limits or GitLimits()
        self._folder = cache_folder(cache_dir, self._location.url)
        self._known_hosts = cache_dir / "known_hosts"

    @property
    def url(self) -> str:
        """The URL as messages show it: without any password it carries."""
        return self._location.shown

    # Branches -------------------------------------------------------------------------------

    def branches(self) -> dict[str, str]:
        """Fetches; every branch's name and head commit."""
        with self._cache() as repo:
            return {
                ref[len(HEADS) :].decode("utf-8", "replace"): sha.decode("ascii")
                for ref, sha in self._fetch(repo).items()
            }

    def branch_head(self, branch: str) -> str | None:
        """Fetches; the branch's head commit, None when the branch does not exist."""
        ref = branch_ref(branch)
        with self._cache() as repo:
            head = self._fetch(repo).get(ref)
        return None if head is None else head.decode("ascii")

    def contains(self, branch: str, sha: str) -> bool:
        """Fetches; whether ``sha`` is the branch's head or one of its ancestors (so a pushed
        branch counts as merged once its commit is in the target branch)."""
        ref = branch_ref(branch)
        wanted = _object_id(sha)
        with self._cache() as repo:
            head = self._fetch(repo).get(ref)
            if head is None:
                return False
            if head == wanted:
                return True
            if wanted not in repo.object_store:
                return False  # the whole history of every branch is here after a fetch
            with self._local(f"looking for {sha} in branch {branch!r}"):
                return bool(can_fast_forward(repo, wanted, head))

    # Reading commits ------------------------------------------------------------------------

    def files_at(self, sha: str, under: str = "") -> dict[str, bytes]:
        """Every regular file under the folder ``under`` of commit ``sha``, by its path
        relative to that folder. Symbolic links and submodules are left out; a folder that
        does not exist has no files."""
        base = path_parts(under, self._limits)
        with self._cache() as repo:
            tree = self._folder_tree(repo, sha, base)
            if tree is None:
                return {}
            with self._local(f"reading commit {sha}"):
                return self._read_files(repo, tree, "/".join(base))

    def folders_at(self, sha: str, under: str = "") -> list[str]:
        """The names of the folders directly inside ``under`` at commit ``sha``, sorted."""
        base = path_parts(under, self._limits)
        with self._cache() as repo:
            tree = self._folder_tree(repo, sha, base)
            if tree is None:
                return []
            prefix = "/".join(base)
            return sorted(
                decoded(entry.path, prefix).rsplit("/", 1)[-1]
                for entry in tree.iteritems()
                if stat.S_ISDIR(entry.mode)
            )

    def changed_paths(self, old: str | None, new: str) -> set[str]:
        """Paths of files added, changed or removed between commits ``old`` and ``new``
        (both sides of a rename); with ``old`` None, every file of ``new``."""
        with self._cache() as repo:
            new_tree = self._commit(repo, new).tree
            old_tree = None if old is None else self._commit(repo, old).tree
            changed: set[str] = set()
            with self._local(f"comparing {old or 'nothing'} with {new}"):
                for change in tree_changes(repo.object_store, old_tree, new_tree):
                    for entry in (change.old, change.new):
                        if entry is None or entry.path is None:
                            continue
                        folder, _, name = entry.path.rpartition(b"/")
                        changed.add(decoded(name, folder.decode("utf-8", "replace")))
                        if len(changed) > self._limits.max_files:
                            raise GitLimitExceeded(
                                f"{self.url}: more than max_files ({self._limits.max_files}) "
                                f"paths changed between {old} and {new}"
                            )
            return changed

    # Writing --------------------------------------------------------------------------------

    def commit_files(
        self,
        *,
        base_branch: str,
        branch: str,
        changes: Mapping[str, bytes | None],
        message: str,
        author: str,
    ) -> str:
        """Commits ``changes`` (path -> new content, None deletes) to ``branch`` and pushes it.

        The branch starts from ``base_branch``'s head when it does not exist yet (from
        nothing in an empty repository). When the files already are as asked, no commit is
        made and the branch's head is returned (the branch made at base_branch's head if it
        was missing), so a caller that crashed after pushing can call again safely. Returns
        the commit the remote branch now points at.
        """
        base_ref, ref = branch_ref(base_branch), branch_ref(branch)
        if not _AUTHOR.match(author):
            raise ValueError(f"author {author!r} is not 'Name <email>'")
        edits = self._checked_changes(changes)
        for _attempt in range(PUSH_ATTEMPTS):
            with self._cache() as repo:
                heads = self._fetch(repo)
                current = heads.get(ref)
                start = current if current is not None else heads.get(base_ref)
                if start is None and heads:
                    raise GitNotFound(f"{self.url}: branch {base_branch!r} does not exist")
                with self._local(f"building a commit on branch {branch!r}"):
                    new_commit = self._build_commit(repo, start, edits, message, author)
                target = new_commit or start
                assert target is not None  # a commit is always made on an empty repository
                if target == current:
                    return target.decode("ascii")
                try:
                    self._push(repo, {ref: target}, expected={ref: current}, doing="pushing")
                except _BranchMoved:
                    continue
                repo.refs[Ref(ref)] = target
                return target.decode("ascii")
        raise GitConflict(
            f"{self.url}: branch {branch!r} kept moving while Baryon pushed to it "
            f"({PUSH_ATTEMPTS} attempts)"
        )

    def delete_branch(self, branch: str) -> None:
        """Deletes the branch on the remote; a branch that does not exist is left alone."""
        ref = branch_ref(branch)
        with self._cache() as repo:
            self._push(repo, {ref: ZERO_SHA}, expected={}, doing=f"deleting {branch!r}")
            if Ref(ref) in repo.refs:
                del repo.refs[Ref(ref)]

    # Inside ---------------------------------------------------------------------------------

    @contextmanager
    def _cache(self) -> Iterator[Repo]:
        with (
            translated(self._location, "using Baryon's copy", local=True),
            opened_cache(self._folder) as repo,
        ):
            yield repo

    @contextmanager
    def _connection(self, doing: str) -> Iterator[Connection]:
        with (
            translated(self._location, doing, self._credentials.password),
            connect(
                self._location, self._credentials, self._limits, self._known_hosts
            ) as connection,
        ):
            yield connection

    @contextmanager
    def _local(self, doing: str) -> Iterator[None]:
        with translated(self._location, doing, local=True):
            yield

    def _fetch(self, repo: Repo) -> dict[bytes, ObjectID]:
        """Brings the cache up to the remote's branches; returns them (ref -> commit)."""
        limits = self._limits
        received = 0
        advertised: dict[bytes, ObjectID] = {}

        def wants(refs: Mapping[Ref, ObjectID], depth: int | None = None) -> list[ObjectID]:
            advertised.update(_branches_in(refs))
            if len(advertised) > limits.max_branches:
                raise GitLimitExceeded(
                    f"{self.url}: the repository has more than max_branches "
                    f"({limits.max_branches}) branches"
                )
            return sorted({sha for sha in advertised.values() if sha not in repo.object_store})

        with SpooledTemporaryFile(max_size=PACK_SPOOL_FILE_MAX_SIZE) as pack:

            def pack_data(chunk: bytes) -> int:
                nonlocal received
                received += len(chunk)
                if received > limits.max_pack_bytes:
                    raise GitLimitExceeded(
                        f"{self.url}: the repository sent more than max_pack_bytes "
                        f"({limits.max_pack_bytes} bytes) of objects"
                    )
                return pack.write(chunk)

            with self._connection("fetching") as connection:
                result = connection.client.fetch_pack(
                    connection.path, wants, repo.get_graph_walker(), pack_data
                )
                branches = _branches_in(result.refs) if result.refs else advertised
            with self._local("storing fetched objects"):
                if pack.tell():
                    pack.seek(0)
                    repo.object_store.add_thin_pack(pack.read, None)
                self._mirror_refs(repo, branches)
        return branches

    def _mirror_refs(self, repo: Repo, branches: Mapping[bytes, ObjectID]) -> None:
        """The cache's branches become the remote's (their objects are all stored by now)."""
        mirrored = {HEADS + name: sha for name, sha in repo.refs.as_dict(Ref(HEADS)).items()}
        for gone in mirrored.keys() - branches.keys():
            del repo.refs[Ref(gone)]
        for ref, sha in branches.items():
            if sha not in repo.object_store:
                raise GitError(f"{self.url}: the server did not send commit {sha.decode()}")
            if mirrored.get(ref) != sha:
                repo.refs[Ref(ref)] = sha

    def _commit(self, repo: Repo, sha: str) -> Commit:
        wanted = _object_id(sha)
        if wanted not in repo.object_store:
            self._fetch(repo)
        if wanted not in repo.object_store:
            raise GitNotFound(f"{self.url}: commit {sha} is not in any branch")
        with self._local(f"reading commit {sha}"):
            commit = repo.object_store[wanted]
        if not isinstance(commit, Commit):
            raise GitError(f"{self.url}: {sha} is a {commit.type_name.decode()}, not a commit")
        return commit

    def _folder_tree(self, repo: Repo, sha: str, parts: Iterable[str]) -> Tree | None:
        tree_id = self._commit(repo, sha).tree
        with self._local(f"reading commit {sha}"):
            tree = repo.object_store[tree_id]
            for part in parts:
                assert isinstance(tree, Tree)
                try:
                    mode, child = tree[part.encode("utf-8")]
                except KeyError:
                    return None
                if not stat.S_ISDIR(mode):
                    return None
                tree = repo.object_store[child]
            return tree if isinstance(tree, Tree) else None

    def _read_files(self, repo: Repo, top: Tree, top_path: str) -> dict[str, bytes]:
        limits = self._limits
        files: dict[str, bytes] = {}
        total = 0
        start = len(top_path) + 1 if top_path else 0
        pending: list[tuple[Tree, str]] = [(top, top_path)]
        while pending:
            tree, folder = pending.pop()
            for entry in tree.iteritems():
                path = decoded(entry.path, folder)
                check_depth(path, path.count("/") + 1, limits)
                if stat.S_ISDIR(entry.mode):
                    subtree = repo.object_store[entry.sha]
                    if not isinstance(subtree, Tree):
                        raise GitError(f"{self.url}: folder {path!r} is not a tree")
                    pending.append((subtree, path))
                    continue
                if entry.mode not in _REGULAR_MODES:
                    continue  # a symbolic link or a submodule: not a file of the bundle
                if len(files) >= limits.max_files:
                    raise GitLimitExceeded(
                        f"{self.url}: more than max_files ({limits.max_files}) files under "
                        f"{top_path or 'the root folder'!r}"
                    )
                blob = repo.object_store[entry.sha]
                if not isinstance(blob, Blob):
                    raise GitError(f"{self.url}: file {path!r} is not a blob")
                data = blob.as_raw_string()
                if len(data) > limits.max_file_bytes:
                    raise GitLimitExceeded(
                        f"{self.url}: file {path!r} has {len(data)} bytes, more than "
                        f"max_file_bytes ({limits.max_file_bytes})"
                    )
                total += len(data)
                if total > limits.max_total_bytes:
                    raise GitLimitExceeded(
                        f"{self.url}: the files under {top_path or 'the root folder'!r} "
                        f"add up to more than max_total_bytes ({limits.max_total_bytes})"
                    )
                files[path[start:]] = data
        return files

    def _checked_changes(
        self, changes: Mapping[str, bytes | None]
    ) -> dict[tuple[str, ...], bytes | None]:
        limits = self._limits
        edits: dict[tuple[str, ...], bytes | None] = {}
        total = 0
        for path, content in changes.items():
            parts = path_parts(path, limits)
            if not parts:
                raise GitError("a change must name a file, not the repository's root")
            if content is not None:
                if len(content) > limits.max_file_bytes:
                    raise GitLimitExceeded(
                        f"{path!r} has {len(content)} bytes, more than max_file_bytes "
                        f"({limits.max_file_bytes})"
                    )
                total += len(content)
            edits[parts] = content
        if total > limits.max_total_bytes or len(edits) > limits.max_files:
            raise GitLimitExceeded(
                f"{len(edits)} files of {total} bytes in one commit: more than max_files "
                f"({limits.max_files}) or max_total_bytes ({limits.max_total_bytes})"
            )
        for parts in edits:
            for depth in range(1, len(parts)):
                if edits.get(parts[:depth]) is not None:
                    raise GitError(
                        f"{'/'.join(parts)!r} cannot be written: "
                        f"{'/'.join(parts[:depth])!r} is written as a file in the same commit"
                    )
        return edits

    def _build_commit(
        self,
        repo: Repo,
        start: ObjectID | None,
        edits: Mapping[tuple[str, ...], bytes | None],
        message: str,
        author: str,
    ) -> ObjectID | None:
        """The new commit on ``start``, or None when it would change no file."""
        store = repo.object_store
        if start is None:
            empty = Tree()
            store.add_object(empty)
            start_tree = empty.id
        else:
            parent = store[start]
            assert isinstance(parent, Commit)
            start_tree = parent.tree
        tree_changes_list: list[tuple[bytes, int | None, ObjectID | None]] = []
        for parts, content in edits.items():
            path = "/".join(parts)
            existing = self._entry(repo, start_tree, parts)
            if content is None:
                if existing is not None and not stat.S_ISDIR(existing[0]):
                    tree_changes_list.append((path.encode("utf-8"), None, None))
                continue
            mode = _FILE_MODE
            if existing is not None:
                if stat.S_ISDIR(existing[0]):
                    raise GitError(f"{self.url}: {path!r} is a folder; it cannot become a file")
                if existing[0] in _REGULAR_MODES:
                    mode = existing[0]  # an executable stays executable
            blob = Blob.from_string(content)
            store.add_object(blob)
            tree_changes_list.append((path.encode("utf-8"), mode, blob.id))
        new_tree = commit_tree_changes(store, start_tree, tree_changes_list)
        if start is not None and new_tree == start_tree:
            return None
        commit = Commit()
        commit.tree = new_tree
        commit.parents = [] if start is None else [start]
        commit.author = commit.committer = author.encode("utf-8")
        commit.author_time = commit.commit_time = int(time.time())
        commit.author_timezone = commit.commit_timezone = 0
        commit.encoding = b"UTF-8"
        commit.message = (message.rstrip("\n") + "\n").encode("utf-8")
        store.add_object(commit)
        return commit.id

    def _entry(
        self, repo: Repo, tree_id: ObjectID, parts: tuple[str, ...]
    ) -> tuple[int, ObjectID] | None:
        """The mode and object at a path; a file in the way of the path is an error."""
        tree = repo.object_store[tree_id]
        for index, part in enumerate(parts):
            assert isinstance(tree, Tree)
            try:
                mode, sha = tree[part.encode("utf-8")]
            except KeyError:
                return None
            if index == len(parts) - 1:
                return mode, sha
            if not stat.S_ISDIR(mode):
                raise GitError(
                    f"{self.url}: {'/'.join(parts)!r} cannot be written: "
                    f"{'/'.join(parts[: index + 1])!r} is a file"
                )
            tree = repo.object_store[sha]
        return None

    def _push(
        self,
        repo: Repo,
        updates: Mapping[bytes, ObjectID],
        *,
        expected: Mapping[bytes, ObjectID | None],
        doing: str,
    ) -> None:
        """Sets the remote's refs (ZERO_SHA deletes), provided those in ``expected`` are
        still where the caller saw them; a ref to delete that does not exist is skipped."""

        def update_refs(remote: dict[Ref, ObjectID]) -> dict[Ref, ObjectID]:
            for ref, seen in expected.items():
                if remote.get(Ref(ref)) != seen:
                    raise _BranchMoved(f"{self.url}: {ref.decode()} moved")
            return {
                Ref(ref): sha
                for ref, sha in updates.items()
                if sha != ZERO_SHA or Ref(ref) in remote
            }

        def pack_data(
            have: set[ObjectID],
            want: set[ObjectID],
            *,
            ofs_delta: bool = True,
            progress: Callable[..., None] | None = None,
        ) -> tuple[int, Iterator[object]]:
            known = {sha for sha in have if sha in repo.object_store}
            return repo.object_store.generate_pack_data(
                known, want, ofs_delta=ofs_delta, progress=progress
            )

        with self._connection(doing) as connection:
            result = connection.client.send_pack(
                connection.path.encode("utf-8"),
                update_refs,
                pack_data,  # type: ignore[arg-type]
            )
        for ref, error in (result.ref_status or {}).items():
            if error:
                raise GitError(
                    f"{self.url}: the server refused to update {ref.decode()} while "
                    f"{doing}: {error}"
                )


def _branches_in(refs: Mapping[Ref, ObjectID | None]) -> dict[bytes, ObjectID]:
    return {
        bytes(ref): sha
        for ref, sha in refs.items()
        if ref.startswith(HEADS) and not ref.endswith(PEELED_TAG_SUFFIX) and sha is not None
    }


def _object_id(sha: str) -> ObjectID:
    if not valid_hexsha(sha) or len(sha) != 40:
        raise GitError(f"{sha!r} is not a commit id (40 hexadecimal digits)")
    return ObjectID(sha.lower().encode("ascii"))
