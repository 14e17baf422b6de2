"""`baryon keys rotate-master`: every sealed value (access keys, scoped keys, Terraform states
and plans, connection secrets) in every region's database is sealed again with a new master
key; what was sealed opens with the new key and no longer with the old one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import LargeBinary, select

from baryon.auth.access_keys import create_access_key, read_secret
from baryon.auth.key_rotation import (
    SEALED_COLUMNS,
    RegionDatabase,
    forget_replaced_key,
    reseal_database,
)
from baryon.auth.master_key import SealedValueUnreadable, SecretBox
from baryon.auth.scoped_keys import CallerKeys, ScopedKeys
from baryon.cli.main import cli
from baryon.domain.git import ConnectionSecrets
from baryon.modes.instance_lock import InstanceLock
from baryon.operations.terraform_state import TerraformStates
from baryon.runtime import Runtime, build_runtime
from baryon.settings import Settings
from baryon.store.tables import Base, Connection, FleetPreviewItemRow, FleetPreviewRow

WEST = "eu-west-1"
STATE_ARN = f"arn:aws:proton:{WEST}:123456789012:environment/dev"
PLAN_STATE = json.dumps({"serial": 3, "outputs": {"password": "hunter2"}})
GIT_SECRETS = ConnectionSecrets(token="ghp_example", webhook_secret="shh")


def _settings(data_dir: Path, **changes: str) -> Settings:
    return Settings(data_dir=data_dir, regions=f"us-east-1,{WEST}", **changes)  # type: ignore[arg-type]


def _seed(runtime: Runtime) -> tuple[str, str, str, str]:
    """An access key, a scoped key, a Terraform state in the second region and a git
    connection's secrets in the home one; the key pairs to check them by."""
    key = create_access_key(runtime.identity_db, runtime.box, "admin")
    scoped = ScopedKeys(runtime.identity_db, runtime.box).issue(STATE_ARN, 3600)
    west = runtime.cells.get(WEST)
    assert west is not None
    TerraformStates(west.db, west.box).write(STATE_ARN, PLAN_STATE, None)
    with runtime.db.session(write=True) as session:
        session.add(
            Connection(
                arn="arn:aws:baryon:us-east-1:123456789012:connection/c1",
                name="forge",
                provider="GITHUB",
                base_url=None,
                secrets_ciphertext=runtime.box.seal(GIT_SECRETS.to_json()),
                created_at=datetime.now(UTC),
            )
        )
    return key.access_key_id, key.secret_access_key, scoped.access_key_id, scoped.secret_access_key


def _sealed_values(runtime: Runtime) -> list[bytes]:
    found = []
    for cell in runtime.cells:
        with cell.db.session() as session:
            for sealed in SEALED_COLUMNS:
                found += [v for v in session.scalars(select(sealed.column)) if v is not None]
    return found


def _everything_opens(runtime: Runtime, key: tuple[str, str, str, str]) -> None:
    assert read_secret(runtime.identity_db, runtime.box, key[0]) == key[1]
    assert CallerKeys(runtime.identity_db, runtime.box).secret(key[2]) == key[3]
    west = runtime.cells.get(WEST)
    assert west is not None
    assert TerraformStates(west.db, west.box).read(STATE_ARN) == PLAN_STATE
    with runtime.db.session() as session:
        row = session.scalars(select(Connection)).one()
        assert row.secrets_ciphertext is not None
        assert ConnectionSecrets.from_json(runtime.box.open(row.secrets_ciphertext)) == (
            GIT_SECRETS
        )


def test_every_sealed_column_of_the_tables_is_rotated() -> None:
    # Sealed columns are named for it (bundles, binary too, are not sealed).
    sealed = {
        (table.name, column.name)
        for table in Base.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, LargeBinary) and column.name.endswith("ciphertext")
    }
    rotated = {(s.table.__tablename__, s.column.key) for s in SEALED_COLUMNS}
    assert rotated == sealed


def test_a_fleet_previews_saved_terraform_plan_is_sealed_again(tmp_path: Path) -> None:
    old_key = Fernet.generate_key()
    runtime = build_runtime(_settings(tmp_path, master_key=old_key.decode()))
    try:
        now = datetime.now(UTC)
        with runtime.db.session(write=True) as session:
            session.add(
                FleetPreviewRow(
                    id="p1", status="READY", created_by="admin", created_at=now, expires_at=now
                )
            )
            session.flush()  # no relationship orders the two inserts
            session.add(
                FleetPreviewItemRow(
                    preview_id="p1", position=0, resource_kind="environment",
                    resource_name="dev", target_arn=STATE_ARN, status="CHANGE", basis="b",
                    plan_ciphertext=runtime.box.seal("saved plan: password=hunter2"),
                )
            )  # fmt: skip
        new_key = Fernet.generate_key()
        counts = reseal_database(
            RegionDatabase("us-east-1", runtime.db), SecretBox(new_key, [old_key])
        )
        with runtime.db.session() as session:
            sealed = session.scalars(select(FleetPreviewItemRow.plan_ciphertext)).one()
    finally:
        runtime.close()
    assert [c.values for c in counts if c.table == "fleet_preview_items"] == [1]
    assert sealed is not None
    assert SecretBox(new_key).open(sealed) == "saved plan: password=hunter2"
    with pytest.raises(InvalidToken):
        Fernet(old_key).decrypt(sealed)


def test_rotation_with_a_key_file_reseals_everything_and_the_old_key_opens_nothing(
    tmp_path: Path,
) -> None:
    runtime = build_runtime(_settings(tmp_path))
    try:
        seeded = _seed(runtime)
    finally:
        runtime.close()
    key_file = tmp_path / "master.key"
    old_key = key_file.read_bytes().strip()

    answer = CliRunner().invoke(
        cli, ["keys", "rotate-master", "--data-dir", str(tmp_path), "--output", "json"],
        env={"BARYON_REGIONS": f"us-east-1,{WEST}"},
    )  # fmt: skip
    assert answer.exit_code == 0, answer.output
    document = json.loads(answer.stdout)
    counted = {(c["region"], c["table"]): c["values"] for c in document["resealed"]}
    assert counted[("us-east-1", "access_keys")] == 1
    assert counted[("us-east-1", "scoped_access_keys")] == 1
    assert counted[("us-east-1", "connections")] == 1
    assert counted[(WEST, "terraform_state_versions")] == 1
    assert document["newMasterKey"] is None  # it lives in the key file

    new_key = key_file.read_bytes().strip()
    assert new_key != old_key
    assert (tmp_path / "master.key.old").read_bytes().strip() == old_key
    assert not (tmp_path / "master.key.new").exists()
    assert key_file.stat().st_mode & 0o777 == 0o600

    # Opened with the new key alone: the old one is moved aside before the check.
    (tmp_path / "master.key.old").rename(tmp_path / "kept-old-key")
    runtime = build_runtime(_settings(tmp_path))
    try:
        _everything_opens(runtime, seeded)
        values = _sealed_values(runtime)
    finally:
        runtime.close()
    assert len(values) == 4
    for value in values:
        Fernet(new_key).decrypt(value)
        with pytest.raises(InvalidToken):
            Fernet(old_key).decrypt(value)


def test_the_next_start_forgets_the_old_key_once_the_new_one_opens_every_table(
    tmp_path: Path,
) -> None:
    runtime = build_runtime(_settings(tmp_path))
    try:
        _seed(runtime)
    finally:
        runtime.close()
    assert CliRunner().invoke(
        cli, ["keys", "rotate-master", "--data-dir", str(tmp_path)],
        env={"BARYON_REGIONS": f"us-east-1,{WEST}"},
    ).exit_code == 0  # fmt: skip
    runtime = build_runtime(_settings(tmp_path))
    try:
        cells = [RegionDatabase(cell.region, cell.db) for cell in runtime.cells]
        assert forget_replaced_key(tmp_path / "master.key", cells)
    finally:
        runtime.close()
    assert not (tmp_path / "master.key.old").exists()


def test_an_interrupted_rotation_opens_with_both_keys_and_is_finished_by_running_it_again(
    tmp_path: Path,
) -> None:
    runtime = build_runtime(_settings(tmp_path))
    try:
        seeded = _seed(runtime)
        # As if the rotation stopped after the home database: the new key is staged and the
        # home region's values are sealed with it; the second region's are not.
        new_key = Fernet.generate_key()
        (tmp_path / "master.key.new").write_bytes(new_key + b"\n")
        old_key = (tmp_path / "master.key").read_bytes().strip()
        reseal_database(RegionDatabase("us-east-1", runtime.db), SecretBox(new_key, [old_key]))
    finally:
        runtime.close()

    runtime = build_runtime(_settings(tmp_path))  # what `baryon up` would open meanwhile
    try:
        _everything_opens(runtime, seeded)
    finally:
        runtime.close()

    answer = CliRunner().invoke(
        cli, ["keys", "rotate-master", "--data-dir", str(tmp_path)],
        env={"BARYON_REGIONS": f"us-east-1,{WEST}"},
    )  # fmt: skip
    assert answer.exit_code == 0, answer.output
    assert (tmp_path / "master.key").read_bytes().strip() == new_key
    (tmp_path / "master.key.old").unlink()
    runtime = build_runtime(_settings(tmp_path))
    try:
        _everything_opens(runtime, seeded)
    finally:
        runtime.close()


def test_rotation_refuses_a_data_directory_a_running_baryon_holds(tmp_path: Path) -> None:
    build_runtime(_settings(tmp_path)).close()
    before = (tmp_path / "master.key").read_bytes()
    lock = InstanceLock.acquire(tmp_path)
    try:
        answer = CliRunner().invoke(cli, ["keys", "rotate-master", "--data-dir", str(tmp_path)])
    finally:
        lock.release()
    assert answer.exit_code == 8, answer.output
    assert answer.output.startswith(f"baryon: Baryon already runs on {tmp_path}")
    assert "stop it first" in answer.output
    assert (tmp_path / "master.key").read_bytes() == before


def test_with_baryon_master_key_it_first_prints_a_new_key_and_changes_nothing(
    tmp_path: Path,
) -> None:
    old_key = Fernet.generate_key().decode()
    runtime = build_runtime(_settings(tmp_path, master_key=old_key))
    try:
        seeded = _seed(runtime)
    finally:
        runtime.close()
    first = CliRunner().invoke(
        cli, ["keys", "rotate-master", "--data-dir", str(tmp_path), "--output", "json"],
        env={"BARYON_MASTER_KEY": old_key},
    )  # fmt: skip
    assert first.exit_code == 0, first.output
    document = json.loads(first.stdout)
    new_key = document["newMasterKey"]
    Fernet(new_key.encode())
    assert document["resealed"] == []
    assert "BARYON_MASTER_KEY_PREVIOUS" in document["nextStep"]

    # Every replica now runs with both keys: what is sealed with the old one still opens.
    both = {"master_key": new_key, "master_key_previous": old_key}
    runtime = build_runtime(_settings(tmp_path, **both))
    try:
        _everything_opens(runtime, seeded)
    finally:
        runtime.close()

    second = CliRunner().invoke(
        cli, ["keys", "rotate-master", "--data-dir", str(tmp_path)],
        env={"BARYON_MASTER_KEY": new_key, "BARYON_MASTER_KEY_PREVIOUS": old_key,
             "BARYON_REGIONS": f"us-east-1,{WEST}"},
    )  # fmt: skip
    assert second.exit_code == 0, second.output
    assert "sealed 4 secret(s) in 2 region database(s)" in second.output
    assert "remove BARYON_MASTER_KEY_PREVIOUS" in second.output

    runtime = build_runtime(_settings(tmp_path, master_key=new_key))
    try:
        _everything_opens(runtime, seeded)
        values = _sealed_values(runtime)
    finally:
        runtime.close()
    for value in values:
        with pytest.raises(InvalidToken):
            Fernet(old_key.encode()).decrypt(value)


def test_a_value_no_key_opens_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    stranger = Fernet.generate_key().decode()
    runtime = build_runtime(_settings(tmp_path, master_key=stranger))
    try:
        create_access_key(runtime.db, runtime.box, "sealed with a key nobody passes")
        before = _sealed_values(runtime)
    finally:
        runtime.close()
    wrong = {
        "BARYON_MASTER_KEY": Fernet.generate_key().decode(),
        "BARYON_MASTER_KEY_PREVIOUS": Fernet.generate_key().decode(),
    }
    answer = CliRunner().invoke(
        cli, ["keys", "rotate-master", "--data-dir", str(tmp_path)], env=wrong
    )
    assert answer.exit_code == 5, answer.output
    assert answer.output.count("\n") == 1
    assert "opens with neither the current nor the previous master key" in answer.output
    runtime = build_runtime(_settings(tmp_path, master_key=stranger))
    try:
        assert _sealed_values(runtime) == before
        with pytest.raises(SealedValueUnreadable):
            SecretBox(wrong["BARYON_MASTER_KEY"].encode()).open(before[0])
    finally:
        runtime.close()


def test_a_malformed_previous_key_is_one_line_before_anything_is_opened(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    build_runtime(_settings(tmp_path, master_key=key)).close()
    answer = CliRunner().invoke(
        cli,
        ["keys", "rotate-master", "--data-dir", str(tmp_path)],
        env={"BARYON_MASTER_KEY": key, "BARYON_MASTER_KEY_PREVIOUS": "not-a-key"},
    )
    assert answer.exit_code == 3, answer.output
    assert answer.output.startswith("baryon: BARYON_MASTER_KEY_PREVIOUS is not a valid key")
    assert answer.output.count("\n") == 1
