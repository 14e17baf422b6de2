"""Broken and hostile bundles end REGISTRATION_FAILED with a precise reason, through the API,
and nothing is written outside Baryon's private work directory."""

from __future__ import annotations

import gzip
import io
import tarfile
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.bundles import Registry, env_bundle, service_bundle, tar_gz
from tests.support.processes import BaryonProcess

CANARY = f"baryon-escape-{uuid.uuid4().hex[:8]}"


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for bundle_file, text in env_bundle().items():
            info = tarfile.TarInfo(bundle_file)
            info.size = len(text.encode())
            archive.addfile(info, io.BytesIO(text.encode()))
        for info, data in members:
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, **fields: Any) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def _gzip_bomb() -> bytes:
    """A 200 MiB file of zeros that compresses to about 200 KB."""
    raw = io.BytesIO()
    info = tarfile.TarInfo("infrastructure/zeros.bin")
    info.size = 200 * 1024 * 1024
    raw.write(info.tobuf())
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb") as stream:
        stream.write(raw.getvalue())
        chunk = bytes(1024 * 1024)
        for _ in range(200):
            stream.write(chunk)
    return out.getvalue()


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _with(files: dict[str, str], path: str, text: str) -> bytes:
    return tar_gz({**files, path: text})


BILLION_LAUGHS = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    + "schema: *i\n"
)

CASES: dict[str, tuple[bytes, list[str]]] = {
    "path traversal": (
        _tar([(_member(f"../../../../{CANARY}.txt"), b"owned")]),
        [f"../../../../{CANARY}.txt", "'..' path component"],
    ),
    "absolute path": (
        _tar([(_member(f"/tmp/{CANARY}.txt"), b"owned")]),
        [f"/tmp/{CANARY}.txt", "absolute path"],
    ),
    "symbolic link": (
        _tar([(_member("infrastructure/link", tarfile.SYMTYPE, linkname="/etc/passwd"), None)]),
        ["infrastructure/link", "symbolic link"],
    ),
    "hard link": (
        _tar([(_member("infrastructure/hard", tarfile.LNKTYPE, linkname="/etc/passwd"), None)]),
        ["infrastructure/hard", "hard link"],
    ),
    "device file": (
        _tar([(_member("dev", tarfile.CHRTYPE, devmajor=1, devminor=3), None)]),
        ["'dev'", "device file"],
    ),
    "gzip bomb": (_gzip_bomb(), ["zeros.bin", "the limit per file is"]),
    "too many files": (
        _tar([(_member(f"extra/{i}.txt"), b"x") for i in range(1001)]),
        ["more than 1000 members"],
    ),
    "zip traversal": (_zip({f"../{CANARY}.txt": b"owned"}), ["'..' path component"]),
    "not an archive": (b"just text, not a bundle", ["not a tar.gz, tar or zip archive"]),
    "yaml alias bomb": (
        _with(env_bundle(), "schema/schema.yaml", BILLION_LAUGHS),
        ["schema/schema.yaml", "alias"],
    ),
    "no schema": (
        tar_gz({k: v for k, v in env_bundle().items() if not k.startswith("schema/")}),
        ["schema/schema.yaml"],
    ),
    "yaml syntax error": (
        _with(env_bundle(), "schema/schema.yaml", "schema:\n  format: [unclosed\n"),
        ["schema/schema.yaml line"],
    ),
    "manifest names a missing file": (
        _with(
            env_bundle(),
            "infrastructure/manifest.yaml",
            env_bundle()["infrastructure/manifest.yaml"].replace(
                "cloudformation.yaml", "gone.yaml"
            ),
        ),
        ["infrastructure/manifest.yaml", "gone.yaml"],
    ),
    "unknown rendering engine": (
        _with(
            env_bundle(),
            "infrastructure/manifest.yaml",
            env_bundle()["infrastructure/manifest.yaml"].replace("jinja", "mustache"),
        ),
        ["infrastructure/manifest.yaml line", "rendering_engine", "mustache"],
    ),
    "service bundle sent as environment": (
        tar_gz(service_bundle()),
        ["environment", "service"],
    ),
}


# Proton registered bundles whose defaults break their own property (AWS published some), so
# these register, with a warning in statusMessage naming the field and the value.
WARNED = {
    "default outside its enum": (
        _with(
            env_bundle(),
            "schema/schema.yaml",
            env_bundle()["schema/schema.yaml"].replace(
                "enum: [small, large]\n          default: small",
                "enum: [small, large]\n          default: huge",
            ),
        ),
        ["schema/schema.yaml line", "size", "huge"],
    ),
}


@pytest.fixture(scope="module")
def outcomes(proton: Any, s3: Any) -> dict[str, dict[str, Any]]:
    registry = Registry(proton, s3)
    name = f"hostile-{uuid.uuid4().hex[:6]}"
    proton.create_environment_template(name=name)
    started = {
        case: registry.register("environment", name, archive, wait=False)
        for case, (archive, _) in {**CASES, **WARNED}.items()
    }
    return {
        case: registry.wait("environment", name, version, timeout=120)
        for case, version in started.items()
    }


@pytest.mark.parametrize("case", list(CASES))
def test_refused_with_a_precise_reason(case: str, outcomes: dict[str, dict[str, Any]]) -> None:
    outcome = outcomes[case]
    assert outcome["status"] == "REGISTRATION_FAILED", outcome
    for fragment in CASES[case][1]:
        assert fragment in outcome["statusMessage"], outcome["statusMessage"]


@pytest.mark.parametrize("case", list(WARNED))
def test_registered_with_a_precise_warning(case: str, outcomes: dict[str, dict[str, Any]]) -> None:
    outcome = outcomes[case]
    assert outcome["status"] == "DRAFT", outcome
    for fragment in WARNED[case][1]:
        assert fragment in outcome["statusMessage"], outcome["statusMessage"]


def test_nothing_landed_outside_the_work_directory(
    outcomes: dict[str, dict[str, Any]], baryon: BaryonProcess
) -> None:
    assert outcomes  # every hostile bundle has been processed
    escaped = [
        p
        for p in [
            *baryon.data_dir.rglob(f"*{CANARY}*"),
            *Path("/tmp").glob(f"{CANARY}*"),
            *Path("/").glob(f"{CANARY}*"),
        ]
    ]
    assert escaped == []
    work = baryon.data_dir / "work"
    leftovers = list(work.rglob("*")) if work.exists() else []
    assert leftovers == []  # private extraction folders are removed after each registration
