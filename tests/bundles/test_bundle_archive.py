"""Hostile and ordinary archives: every refusal names the member and writes nothing outside
the destination (which is emptied again), and packing is deterministic."""

from __future__ import annotations

import gzip
import io
import stat
import tarfile
import warnings
import zipfile
import zlib
from pathlib import Path

import pytest

from baryon.bundles import (
    BundleError,
    BundleLimits,
    extract_archive,
    load_bundle_bytes,
    pack_directory,
)
from tests.bundles.bundle_builders import (
    env_bundle,
    listing,
    tar_bytes,
    tar_member,
    tar_of_tree,
    write_tree,
    zip_bytes,
)

LIMITS = BundleLimits()
MIB = 1 << 20
# 1 MiB of zeros is about 1 KiB gzipped; concatenated gzip members are one valid stream,
# so bombs of any size cost nothing to build.
ZEROS_MIB_GZ = gzip.compress(bytes(MIB), compresslevel=9, mtime=0)


def bomb(headers: list[tuple[tarfile.TarInfo, int]]) -> bytes:
    """A tar.gz whose members are headers followed by `mib` MiB of zeros each."""
    parts = []
    for info, mib in headers:
        info.size = mib * MIB
        parts.append(gzip.compress(info.tobuf(format=tarfile.USTAR_FORMAT), mtime=0))
        parts.extend([ZEROS_MIB_GZ] * mib)  # whole MiBs keep the 512-byte alignment
    parts.append(gzip.compress(bytes(1024), mtime=0))  # end-of-archive blocks
    return b"".join(parts)


def refuse(tmp_path: Path, data: bytes, limits: BundleLimits = LIMITS) -> str:
    """Extract hostile `data`; prove nothing escaped; return the error text."""
    parent = tmp_path / "parent"
    dest = parent / "dest"
    dest.mkdir(parents=True)
    (parent / "keep.txt").write_text("untouched")
    before = listing(tmp_path)
    with pytest.raises(BundleError) as caught:
        extract_archive(data, dest, limits)
    assert listing(tmp_path) == before  # nothing outside dest, and dest emptied again
    assert (parent / "keep.txt").read_text() == "untouched"
    return str(caught.value)


def extract(tmp_path: Path, data: bytes, limits: BundleLimits = LIMITS) -> Path:
    dest = tmp_path / "dest"
    dest.mkdir(parents=True)
    extract_archive(data, dest, limits)
    return dest


# -- hostile tar members -------------------------------------------------------------------

HOSTILE_TAR = {
    "dot-dot traversal": (
        [tar_member("../evil.txt", b"x")],
        "archive member '../evil.txt' has a '..' path component",
    ),
    "traversal after valid members": (
        [tar_member("schema/schema.yaml", b"x"), tar_member("schema/../../evil.txt", b"x")],
        "archive member 'schema/../../evil.txt' has a '..' path component",
    ),
    "nested traversal": (
        [tar_member("schema/../../evil.txt", b"x")],
        "archive member 'schema/../../evil.txt' has a '..' path component",
    ),
    "backslash traversal": (
        [tar_member("..\\..\\evil.txt", b"x")],
        "archive member '..\\\\..\\\\evil.txt' has a backslash in its name",
    ),
    "drive letter": (
        [tar_member("C:/evil.txt", b"x")],
        "archive member 'C:/evil.txt' starts with a drive letter",
    ),
    "symbolic link": (
        [
            tar_member("schema", type=tarfile.SYMTYPE, linkname="/etc"),
            tar_member("schema/passwd", b"x"),
        ],
        "archive member 'schema' is a symbolic link (to '/etc'); only regular files and "
        "folders are allowed",
    ),
    "hard link": (
        [tar_member("passwd", type=tarfile.LNKTYPE, linkname="/etc/passwd")],
        "archive member 'passwd' is a hard link (to '/etc/passwd'); only regular files and "
        "folders are allowed",
    ),
    "device file": (
        [tar_member("disk", type=tarfile.BLKTYPE, devmajor=8, devminor=0)],
        "archive member 'disk' is a device file; only regular files and folders are allowed",
    ),
    "character device": (
        [tar_member("null", type=tarfile.CHRTYPE, devmajor=1, devminor=3)],
        "archive member 'null' is a device file; only regular files and folders are allowed",
    ),
    "fifo": (
        [tar_member("pipe", type=tarfile.FIFOTYPE)],
        "archive member 'pipe' is a FIFO; only regular files and folders are allowed",
    ),
    "duplicate member": (
        [tar_member("a.txt", b"1"), tar_member("a.txt", b"2")],
        "archive member 'a.txt' is a duplicate member",
    ),
    "duplicate ignoring case": (
        [tar_member("schema/x.yaml", b"1"), tar_member("Schema/X.yaml", b"2")],
        "archive member 'Schema/X.yaml' is a duplicate member (same path as 'schema/x.yaml' "
        "ignoring case)",
    ),
    "file used as a folder": (
        [tar_member("a", b"1"), tar_member("a/b", b"2")],
        "archive member 'a/b' needs folder 'a', but that is a file",
    ),
    "path too long": (
        [tar_member("/".join(["n" * 99] * 6), b"x")],
        f"archive member {'/'.join(['n' * 99] * 6)!r} has a path of 599 characters; "
        "the limit is 512",
    ),
    "name part too long": (
        [tar_member("d/" + "n" * 300, b"x")],
        f"archive member {'d/' + 'n' * 300!r} has a name part of 300 bytes; file systems allow 255",
    ),
    "too deep": (
        [tar_member("d/" * 30 + "f", b"x")],
        f"archive member {'d/' * 30 + 'f'!r} is 31 folders deep; the limit is 24",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE_TAR))
def test_hostile_tar_member_is_refused(case: str, tmp_path: Path) -> None:
    members, expected = HOSTILE_TAR[case]
    assert refuse(tmp_path, tar_bytes(members)) == expected


def test_absolute_path_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "abs-evil.txt"
    message = refuse(tmp_path, tar_bytes([tar_member(str(target), b"x")]))
    assert message == f"archive member {str(target)!r} has an absolute path"
    assert not target.exists()


def test_too_many_members(tmp_path: Path) -> None:
    members = [tar_member(f"f{index}", b"x") for index in range(6)]
    limits = BundleLimits(max_files=5)
    assert refuse(tmp_path, tar_bytes(members), limits) == (
        "archive has more than 5 members (stopped at 'f5'); the limit is 5"
    )


def test_gzip_bomb_of_one_100_mib_file_is_refused_at_its_header(tmp_path: Path) -> None:
    data = bomb([(tarfile.TarInfo("zeros.bin"), 100)])
    assert len(data) < 200_000
    assert refuse(tmp_path, data) == (
        "archive member 'zeros.bin' declares 104857600 bytes; the limit per file is 5242880"
    )


def test_gzip_bomb_of_many_files_stops_at_the_total_limit(tmp_path: Path) -> None:
    data = bomb([(tarfile.TarInfo(f"f{index}"), 1) for index in range(100)])
    limits = BundleLimits(max_total_bytes=3 * MIB, max_file_bytes=2 * MIB)
    assert refuse(tmp_path, data, limits) == (
        "archive expands to more than 3145728 bytes (stopped in member 'f3'); the limit is 3145728"
    )


def test_pax_header_bomb_stops_decompressing(tmp_path: Path) -> None:
    # tarfile reads pax headers whole; the capped gunzip stream bounds what it can read.
    header = tarfile.TarInfo("pax")
    header.type = tarfile.XHDTYPE
    data = bomb([(header, 100)])
    limits = BundleLimits(max_total_bytes=MIB, max_files=10)
    cap = MIB + 10 * 4096 + MIB
    assert refuse(tmp_path, data, limits) == (
        f"archive expands to more than {cap} bytes of tar data; refusing to decompress further"
    )


def test_upload_larger_than_the_archive_limit(tmp_path: Path) -> None:
    data = tar_bytes([tar_member("a", b"x")])
    limits = BundleLimits(max_archive_bytes=10)
    assert refuse(tmp_path, data, limits) == f"archive is {len(data)} bytes; the limit is 10"


def test_not_an_archive(tmp_path: Path) -> None:
    assert refuse(tmp_path, b"PK?? not really") == "not a tar.gz, tar or zip archive"
    assert refuse(tmp_path / "2", b"x" * 600) == "not a tar.gz, tar or zip archive"


def test_gzip_without_a_tar_inside(tmp_path: Path) -> None:
    message = refuse(tmp_path, gzip.compress(b"just some text" * 100))
    assert message.startswith("archive is corrupt: not a readable tar archive")


def test_truncated_gzip(tmp_path: Path) -> None:
    data = tar_of_tree(env_bundle())
    assert refuse(tmp_path, data[: len(data) // 2]) == (
        "archive is corrupt: the gzip data is truncated"
    )


def test_destination_must_be_empty(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(BundleError, match="is not empty"):
        extract_archive(tar_of_tree(env_bundle()), tmp_path, LIMITS)


# -- hostile zip entries -------------------------------------------------------------------


def _zip_info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix: mode bits live in external_attr
    info.external_attr = mode << 16
    return info


def test_zip_with_dot_dot(tmp_path: Path) -> None:
    data = zip_bytes([("../evil.txt", b"x")])
    assert refuse(tmp_path, data) == "archive member '../evil.txt' has a '..' path component"


def test_zip_with_absolute_path(tmp_path: Path) -> None:
    data = zip_bytes([("/tmp/evil.txt", b"x")])
    assert refuse(tmp_path, data) == "archive member '/tmp/evil.txt' has an absolute path"


def test_zip_symlink_from_external_attributes(tmp_path: Path) -> None:
    data = zip_bytes([(_zip_info("schema", stat.S_IFLNK | 0o777), b"/etc")])
    assert refuse(tmp_path, data) == (
        "archive member 'schema' is a symbolic link; only regular files and folders are allowed"
    )


def test_zip_fifo_from_external_attributes(tmp_path: Path) -> None:
    data = zip_bytes([(_zip_info("pipe", stat.S_IFIFO | 0o644), b"")])
    assert refuse(tmp_path, data) == (
        "archive member 'pipe' is a FIFO; only regular files and folders are allowed"
    )


def test_zip_duplicate_names(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate it writes
        data = zip_bytes([("a.txt", b"1"), ("a.txt", b"2")])
    assert refuse(tmp_path, data) == "archive member 'a.txt' is a duplicate member"


def test_zip_too_many_entries(tmp_path: Path) -> None:
    data = zip_bytes([(f"f{index}", b"x") for index in range(6)])
    assert refuse(tmp_path, data, BundleLimits(max_files=5)) == (
        "archive has 6 members; the limit is 5"
    )


def test_zip_bomb_is_refused_from_its_directory(tmp_path: Path) -> None:
    data = zip_bytes([("zeros.bin", bytes(6 * MIB))])
    assert len(data) < 100_000
    assert refuse(tmp_path, data, BundleLimits(max_total_bytes=4 * MIB)) == (
        "archive declares 6291456 bytes uncompressed; the limit is 4194304"
    )
    assert refuse(tmp_path / "2", data) == (
        "archive member 'zeros.bin' declares 6291456 bytes; the limit per file is 5242880"
    )


def test_zip_with_a_bad_checksum_is_corrupt(tmp_path: Path) -> None:
    data = bytearray(zip_bytes([("a.txt", b"hello world")]))
    # Corrupt the stored CRC in the local header and central directory alike.
    crc = zlib.crc32(b"hello world").to_bytes(4, "little")
    data[:] = data.replace(crc, b"\0\0\0\0")
    message = refuse(tmp_path, bytes(data))
    assert message.startswith("archive is corrupt: not a readable zip archive (Bad CRC-32")


def test_encrypted_zip_entry(tmp_path: Path) -> None:
    data = bytearray(zip_bytes([("secret.txt", b"x")]))
    # zipfile cannot write encrypted entries; set the "encrypted" flag bit by hand in the
    # local header (offset 6) and the central directory entry (offset 8).
    data[6] |= 0x1
    data[data.index(b"PK\x01\x02") + 8] |= 0x1
    assert refuse(tmp_path, bytes(data)) == "archive member 'secret.txt' is encrypted"


# -- YAML bombs inside an otherwise valid archive ------------------------------------------

BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + level)}: &{chr(98 + level)} [{', '.join(['*' + chr(97 + level)] * 10)}]\n"
    for level in range(8)
)


def test_yaml_alias_bomb_in_schema(tmp_path: Path) -> None:
    files = {**env_bundle(), "schema/schema.yaml": BILLION_LAUGHS}
    with pytest.raises(BundleError) as caught:
        load_bundle_bytes(tar_of_tree(files), "environment", limits=LIMITS, workdir=tmp_path)
    error = caught.value
    assert error.file == "schema/schema.yaml"
    assert error.reason == f"YAML aliases expand to more than {len(BILLION_LAUGHS) + 10_000} nodes"


def test_yaml_with_too_many_aliases(tmp_path: Path) -> None:
    text = "base: &b 1\nitems: [" + ", ".join(["*b"] * 150) + "]\n"
    files = {**env_bundle(), "schema/schema.yaml": text}
    with pytest.raises(BundleError) as caught:
        load_bundle_bytes(tar_of_tree(files), "environment", limits=LIMITS, workdir=tmp_path)
    assert str(caught.value) == "schema/schema.yaml line 2: more than 100 YAML aliases"


# -- ordinary archives ---------------------------------------------------------------------


def test_extracted_modes_ignore_the_archive(tmp_path: Path) -> None:
    members = [
        tar_member("bin", type=tarfile.DIRTYPE, mode=0o777),
        tar_member("bin/tool", b"#!/bin/sh\n", mode=0o4777),
        tar_member("./schema/schema.yaml", b"x", mode=0o600),
    ]
    dest = extract(tmp_path, tar_bytes(members))
    assert stat.S_IMODE((dest / "bin").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "bin/tool").stat().st_mode) == 0o644
    assert stat.S_IMODE((dest / "schema/schema.yaml").stat().st_mode) == 0o644
    assert listing(dest) == ["bin", "bin/tool", "schema", "schema/schema.yaml"]


def test_plain_tar_and_zip_are_accepted(tmp_path: Path) -> None:
    plain = tar_bytes([tar_member("schema/schema.yaml", b"x")], compress=False)
    assert listing(extract(tmp_path / "t", plain)) == ["schema", "schema/schema.yaml"]
    zipped = zip_bytes([("schema/", b""), ("schema/schema.yaml", b"x")])
    assert listing(extract(tmp_path / "z", zipped)) == ["schema", "schema/schema.yaml"]


def test_multi_member_gzip_is_one_stream(tmp_path: Path) -> None:
    raw = tar_bytes([tar_member("a.txt", b"hello")], compress=False)
    data = gzip.compress(raw[:512], mtime=0) + gzip.compress(raw[512:], mtime=0)
    assert (extract(tmp_path, data) / "a.txt").read_bytes() == b"hello"


# -- packing -------------------------------------------------------------------------------


def test_pack_is_deterministic_and_flat(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        **env_bundle(),
        ".git/config": "x",
        "infrastructure/__pycache__/x.pyc": b"\0",
        ".DS_Store": b"\0",
    }
    first = pack_directory(write_tree(tmp_path / "one", files), LIMITS)
    second = pack_directory(write_tree(tmp_path / "two", dict(reversed(files.items()))), LIMITS)
    assert first == second
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as archive:
        members = archive.getmembers()
    assert [member.name for member in members] == sorted(env_bundle())
    for member in members:
        assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (
            0,
            0,
            0,
            "",
            "",
        )
        assert member.mode == 0o644 and member.isreg()


def test_pack_refuses_symlinks(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "b", env_bundle())
    (root / "schema" / "link.yaml").symlink_to(root / "schema" / "schema.yaml")
    with pytest.raises(BundleError) as caught:
        pack_directory(root, LIMITS)
    assert str(caught.value) == (
        "schema/link.yaml: is a symbolic link; bundles must contain regular files only"
    )


def test_pack_enforces_limits(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "b", {**env_bundle(), "big.bin": bytes(2048)})
    with pytest.raises(BundleError) as caught:
        pack_directory(root, BundleLimits(max_file_bytes=1024))
    assert str(caught.value) == "big.bin: file is larger than 1024 bytes; the limit is 1024"
    with pytest.raises(BundleError, match="more than 2 files"):
        pack_directory(root, BundleLimits(max_files=2))


def test_pack_refuses_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="holds no files to pack"):
        pack_directory(tmp_path, LIMITS)
