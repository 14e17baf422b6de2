"""``baryon users``: portal users managed on the server's machine."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from baryon.cli.main import cli
from baryon.operations.portal_passwords import verify_password
from baryon.runtime import build_runtime
from baryon.settings import load_settings
from baryon.store.tables import User


def _run(data_dir: Path, *args: str, stdin: str | None = None) -> object:
    # `baryon users` opens an existing store (as `baryon up` leaves it), never creates one.
    build_runtime(load_settings({"data_dir": data_dir}, environ={})).close()
    return CliRunner().invoke(cli, ["users", *args, "--data-dir", str(data_dir)], input=stdin)


def _stored_hash(data_dir: Path, name: str) -> str | None:
    runtime = build_runtime(load_settings({"data_dir": data_dir}, environ={}))
    try:
        with runtime.db.session() as session:
            return session.scalar(select(User.password_hash).where(User.name == name))
    finally:
        runtime.close()


def test_create_list_change_and_delete(tmp_path: Path) -> None:
    created = _run(tmp_path, "create", "ada", "--password-stdin", stdin="first password 1\n")
    assert created.exit_code == 0, created.output
    stored = _stored_hash(tmp_path, "ada")
    assert stored is not None and verify_password("first password 1", stored)
    listed = _run(tmp_path, "list")
    assert listed.exit_code == 0 and "ada" in listed.output
    again = _run(tmp_path, "create", "ada", "--password-stdin", stdin="first password 1\n")
    assert again.exit_code != 0 and "already exists" in again.output
    changed = _run(tmp_path, "set-password", "ada", "--password-stdin",
                   stdin="second password 2\n")
    assert changed.exit_code == 0, changed.output
    stored = _stored_hash(tmp_path, "ada")
    assert stored is not None and verify_password("second password 2", stored)
    deleted = _run(tmp_path, "delete", "ada")
    assert deleted.exit_code == 0 and _stored_hash(tmp_path, "ada") is None
    assert _run(tmp_path, "delete", "ada").exit_code != 0


def test_the_prompt_asks_twice(tmp_path: Path) -> None:
    result = _run(tmp_path, "create", "bo", stdin="typed password\ntyped password\n")
    assert result.exit_code == 0, result.output
    assert "Repeat for confirmation" in result.output


def test_weak_passwords_and_odd_names_are_refused(tmp_path: Path) -> None:
    short = _run(tmp_path, "create", "cy", "--password-stdin", stdin="short\n")
    assert short.exit_code != 0 and "at least" in short.output
    odd = _run(tmp_path, "create", "no spaces", "--password-stdin", stdin="long enough pass\n")
    assert odd.exit_code != 0 and "user name" in odd.output


def test_a_name_with_a_trailing_newline_is_not_a_second_user(tmp_path: Path) -> None:
    # `$` matches before a final newline: "alice\n" once became a user beside "alice".
    for name in ("alice\n", "al\u0131ce", "\u0661\u0662"):
        odd = _run(tmp_path, "create", name, "--password-stdin", stdin="long enough pass\n")
        assert odd.exit_code != 0 and "user name" in odd.output, repr(name)
