"""Template sync's rules: where a template's folders are, which folders are major versions,
what a bundle's content is, and what a sync configuration may say."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from baryon.domain import repositories, template_sync
from baryon.domain.errors import Conflict, InvalidInput, NotFound
from baryon.domain.git import ConnectionSecrets
from baryon.domain.repositories import NewConnection
from baryon.domain.template_sync import MAX_SEARCH_DEPTH, MajorFolder
from baryon.domain.templates import TemplateKind
from baryon.git.credentials import GitCredentials
from baryon.git.remote import GitRemote
from baryon.runtime import Runtime
from baryon.service_models.baryon import ConnectionProvider
from baryon.store.jobs import JobKind
from baryon.store.tables import Job

ENV = TemplateKind.ENVIRONMENT


def _commit(tmp_path: Path, paths: list[str]) -> template_sync.FolderLister:
    """A real repository holding an empty README in each folder of ``paths``; the lister
    reads its commit's folders as the job does."""
    work = tmp_path / "work"
    work.mkdir()
    for path in paths:
        (work / path).mkdir(parents=True, exist_ok=True)
        (work / path / "README").write_text(path)

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *args],
            cwd=work,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "layout")
    sha = git("rev-parse", "HEAD").strip()
    remote = GitRemote(str(work), GitCredentials(), tmp_path / "cache")
    return lambda folder: remote.folders_at(sha, folder)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("templates", "templates"),
        ("/production-templates/", "production-templates"),
        ("env-template/", "env-template"),
        ("./templates/prod", "templates/prod"),
        ("/", None),
        ("", None),
        (None, None),
    ],
)
def test_a_subdirectory_is_kept_without_its_outer_slashes(
    given: str | None, kept: str | None
) -> None:
    assert template_sync.check_subdirectory(given) == kept


@pytest.mark.parametrize("given", ["templates/../..", "a//b", "a/./b", "a\\b", "x/.git/y", "t\x01"])
def test_a_subdirectory_that_is_not_a_folder_inside_the_repository_is_refused(given: str) -> None:
    with pytest.raises(InvalidInput) as error:
        template_sync.check_subdirectory(given)
    assert error.value.field == ("subdirectory",)


def test_the_first_folder_named_like_the_template_is_found_breadth_first(tmp_path: Path) -> None:
    folders = _commit(
        tmp_path, ["a/deep/net/v1", "b/net/v1", "c/net/v1", "templates/other/v1", "net-old/v1"]
    )
    assert template_sync.find_template_folder("net", None, folders) == "b/net"
    assert template_sync.find_template_folder("net", "a", folders) == "a/deep/net"
    assert template_sync.find_template_folder("net", "templates", folders) is None
    # A subdirectory named like the template is its folder (Proton's own example does this).
    assert template_sync.find_template_folder("net", "c/net", folders) == "c/net"
    assert template_sync.find_template_folder("missing", None, folders) is None


def test_the_search_stops_at_its_depth(tmp_path: Path) -> None:
    shallow = "/".join(["d"] * (MAX_SEARCH_DEPTH - 1)) + "/net"
    deep = "/".join(["e"] * (MAX_SEARCH_DEPTH + 1)) + "/net"  # deeper than that below e/
    folders = _commit(tmp_path, [shallow, deep])
    assert template_sync.find_template_folder("net", None, folders) == shallow
    assert template_sync.find_template_folder("net", "e", folders) is None


def test_only_v_and_a_number_name_a_major_version(tmp_path: Path) -> None:
    folders = _commit(
        tmp_path, [f"net/{name}" for name in ("v1", "v10", "v2", "v01", "vx", "V3", "spec", "v")]
    )
    assert template_sync.major_folders("net", folders) == [
        MajorFolder(1, "net/v1"),
        MajorFolder(2, "net/v2"),
        MajorFolder(10, "net/v10"),
    ]


def test_a_bundles_content_leaves_out_droppings_and_its_digest_follows_its_content() -> None:
    files = {
        "schema/schema.yaml": b"schema",
        ".DS_Store": b"finder",
        "__MACOSX/schema/._schema.yaml": b"resource fork",
        "infrastructure/._cloudformation.yaml": b"appledouble",
        ".template-registration.yaml": b"compatible_environments: []",
    }
    kept = template_sync.bundle_files(files)
    assert kept == {
        ".template-registration.yaml": b"compatible_environments: []",
        "schema/schema.yaml": b"schema",
    }
    digest = template_sync.bundle_digest(kept)
    assert template_sync.bundle_digest(template_sync.bundle_files(files)) == digest
    assert template_sync.bundle_digest({**kept, "schema/schema.yaml": b"changed"}) != digest


@pytest.fixture
def registered(runtime: Runtime, tmp_path: Path) -> Runtime:
    now = datetime.now(UTC)
    with runtime.db.session(write=True) as session:
        connection = repositories.create_connection(
            session,
            runtime.arns,
            NewConnection("disk", ConnectionProvider.GIT, str(tmp_path) + "/", ConnectionSecrets()),
            None,
            now,
        )
        repositories.create_repository(
            session,
            runtime.arns,
            provider="GITHUB",
            name="org/templates",
            connection_arn=connection.arn,
            encryption_key=None,
            now=now,
        )
    return runtime


def _create(runtime: Runtime, name: str = "network", **changes: str) -> None:
    values = {
        "repository_provider": "GITHUB",
        "repository_name": "org/templates",
        "branch": "main",
        **changes,
    }
    with runtime.db.session(write=True) as session:
        template_sync.create_config(
            session,
            ENV,
            name,
            repository_provider=values["repository_provider"],
            repository_name=values["repository_name"],
            branch=values["branch"],
            subdirectory=values.get("subdirectory"),
            now=datetime.now(UTC),
        )


def test_a_config_needs_its_template_a_registered_repository_and_a_branch_name(
    registered: Runtime,
) -> None:
    for name, changes, field in (
        ("nothing", {}, ("templateName",)),
        ("network", {"repository_name": "org/unknown"}, ("repositoryName",)),
        ("network", {"branch": "bad..name"}, ("branch",)),
        ("network", {"subdirectory": "../up"}, ("subdirectory",)),
    ):
        with pytest.raises(InvalidInput) as error:
            _create(registered, name, **changes)
        assert error.value.field == field
    # webapp is a service template: the environment template's name space is another one.
    with pytest.raises(InvalidInput):
        _create(registered, "webapp")


def test_one_config_per_template_and_its_first_sync_is_asked_for_once(registered: Runtime) -> None:
    _create(registered, subdirectory="/templates/")
    with pytest.raises(Conflict):
        _create(registered)
    with registered.db.session(write=True) as session:
        template_sync.update_config(
            session,
            ENV,
            "network",
            repository_provider="GITHUB",
            repository_name="org/templates",
            branch="release",
            subdirectory=None,
            now=datetime.now(UTC),
        )
        kinds = [row.kind for row in session.scalars(select(Job))]
        config = template_sync.get_config(session, ENV, "network")
        assert (config.branch, config.subdirectory) == ("release", None)
    # The update's sync request joins the one still waiting; the poll watches the branch.
    assert sorted(kinds) == sorted([JobKind.TEMPLATE_SYNC, JobKind.POLL_REPOSITORIES])
    with registered.db.session(write=True) as session:
        template_sync.delete_config(session, ENV, "network")
        with pytest.raises(NotFound):
            template_sync.get_config(session, ENV, "network")


def test_the_status_of_a_template_never_synced_is_empty_and_of_no_template_not_found(
    registered: Runtime,
) -> None:
    with registered.db.session() as session:
        assert template_sync.template_sync_status(session, ENV, "network", 1) == {}
        with pytest.raises(NotFound):
            template_sync.template_sync_status(session, ENV, "nothing", 1)
