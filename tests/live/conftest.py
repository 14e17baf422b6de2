"""What most live tests share: one `baryon up` per test module, and its clients.

A module sets ``STACK_SECONDS`` when its stack operations must last long enough to be
watched, raced or cancelled; by default they take 0.01 s on the local cloud.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.processes import BaryonProcess, start_baryon

DEFAULT_STACK_SECONDS = "0.01"


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BaryonProcess]:
    seconds = getattr(request.module, "STACK_SECONDS", DEFAULT_STACK_SECONDS)
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    process = start_baryon(
        tmp_path_factory.mktemp(name), env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": seconds}
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def cloudformation(server: BaryonProcess) -> Any:
    return server.client("cloudformation")
