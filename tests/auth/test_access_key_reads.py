"""Reading an operator's key for a signature check: one query gives its secret and account,
the row is read afresh every time (a deleted key is refused at once), and each ciphertext is
decrypted once per process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from baryon.auth.access_keys import (
    StoredKey,
    create_access_key,
    delete_access_key,
    read_key,
    read_secret,
)
from baryon.auth.master_key import SecretBox
from baryon.runtime import Runtime, build_runtime
from baryon.settings import Settings


class CountingBox(SecretBox):
    """A SecretBox that counts how often it decrypts."""

    opened = 0

    def open(self, ciphertext: bytes) -> str:
        self.opened += 1
        return super().open(ciphertext)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = build_runtime(Settings(data_dir=tmp_path))
    yield runtime
    runtime.close()


def test_one_read_gives_the_secret_and_the_account_the_key_acts_for(runtime: Runtime) -> None:
    operator = create_access_key(runtime.db, runtime.box, "operator")
    tenant = create_access_key(runtime.db, runtime.box, "tenant", account_id="210987654321")
    assert read_key(runtime.db, runtime.box, operator.access_key_id) == StoredKey(
        operator.secret_access_key, None
    )
    assert read_key(runtime.db, runtime.box, tenant.access_key_id) == StoredKey(
        tenant.secret_access_key, "210987654321"
    )
    assert read_key(runtime.db, runtime.box, "BARYNOSUCHKEY") is None


def test_a_key_read_many_times_is_decrypted_once(runtime: Runtime) -> None:
    box = CountingBox(Fernet.generate_key())
    key = create_access_key(runtime.db, box, "busy")
    for _ in range(5):
        assert read_secret(runtime.db, box, key.access_key_id) == key.secret_access_key
    assert box.opened == 1


def test_a_deleted_key_is_refused_by_the_next_read_though_it_was_decrypted_before(
    runtime: Runtime,
) -> None:
    key = create_access_key(runtime.db, runtime.box, "revoked soon")
    assert read_secret(runtime.db, runtime.box, key.access_key_id) == key.secret_access_key
    assert delete_access_key(runtime.db, key.access_key_id)
    assert read_key(runtime.db, runtime.box, key.access_key_id) is None
