"""Reading an export directory: what the AWS CLI printed, checked against the Proton model,
and the bundles beside it; hostile files are refused with the file and the member named."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from baryon.importing.errors import ExportError
from baryon.importing.export_bundles import bundle_archive, bundle_for
from baryon.importing.export_directory import how_to_export, read_export, read_export_directory
from baryon.importing.limits import DEFAULT_LIMITS, ExportLimits
from baryon.importing.proton_export import BundleForm, VersionKey
from baryon.service_models.proton import TemplateType, TemplateVersionStatus
from tests.support import proton_aftermath as pa
from tests.support.proton_aftermath import Aftermath

SVC = TemplateType.SERVICE


def _copy(aftermath: Aftermath, tmp_path: Path) -> Path:
    target = tmp_path / "export"
    shutil.copytree(aftermath.export_dir, target)
    return target


def _edit(root: Path, path: str, change: object) -> None:
    file = root / path
    document = json.loads(file.read_text())
    change(document)  # type: ignore[operator]
    file.write_text(json.dumps(document))


def test_every_template_version_and_resource_of_the_aftermath_is_read(
    aftermath: Aftermath,
) -> None:
    export = read_export_directory(aftermath.export_dir)

    assert [(t.kind, t.name) for t in export.templates] == [
        (TemplateType.ENVIRONMENT, pa.ENV_TEMPLATE),
        (SVC, pa.SVC_TEMPLATE),
    ]
    assert [(v.template_name, v.number, v.status) for v in export.versions] == [
        (pa.ENV_TEMPLATE, "1.0", TemplateVersionStatus.PUBLISHED),
        (pa.SVC_TEMPLATE, "1.0", TemplateVersionStatus.PUBLISHED),
        (pa.SVC_TEMPLATE, "1.1", TemplateVersionStatus.PUBLISHED),
        (pa.SVC_TEMPLATE, "1.2", TemplateVersionStatus.DRAFT),
    ]
    assert export.versions[1].compatible_environment_templates == ((pa.ENV_TEMPLATE, 1),)
    (environment,) = export.environments
    assert (environment.name, environment.version.number) == (pa.ENVIRONMENT, "1.0")
    assert environment.proton_service_role_arn == pa.ROLE
    stack = aftermath.stacks["environment"]
    assert {o.key: o.value for o in environment.deployed.outputs or ()} == stack.outputs
    assert (
        environment.deployed.last_succeeded_deployment_id == aftermath.deployment_ids["environment"]
    )
    assert environment.tags and environment.tags[0].key == "cost-center"
    frontend, backend = sorted(export.services, key=lambda s: s.name != pa.FRONTEND)
    assert [i.name for i in frontend.instances] == ["web-one", "web-two"]
    assert frontend.pipeline is not None and frontend.pipeline.version.number == "1.0"
    assert backend.pipeline is None and backend.instances[0].version.number == "1.1"
    assert backend.instances[0].deployed.provisioned_resources is None  # not exported
    (component,) = export.components
    assert component.template_file == pa.COMPONENT_IAC  # from its exported deployment
    assert export.warnings == ()


def test_each_version_finds_its_bundle_in_one_of_the_three_forms(aftermath: Aftermath) -> None:
    export = read_export_directory(aftermath.export_dir)

    def key(number: str, kind: TemplateType = SVC) -> VersionKey:
        major, minor = number.split(".")
        name = pa.SVC_TEMPLATE if kind == SVC else pa.ENV_TEMPLATE
        return VersionKey(kind, name, int(major), int(minor))

    forms = {n: bundle_for(export, key(n)) for n in ("1.0", "1.1", "1.2")}
    assert {n: s.form if s else None for n, s in forms.items()} == {
        "1.0": BundleForm.FOLDER,
        "1.1": BundleForm.ARCHIVE,
        "1.2": BundleForm.SYNC_FOLDER,
    }
    assert bundle_for(export, key("1.0", TemplateType.ENVIRONMENT)) is None
    files = {
        str(p.relative_to(aftermath.export_dir)): p.read_bytes()
        for p in aftermath.export_dir.rglob("*")
        if p.is_file()
    }
    packed = [bundle_archive(files, source, DEFAULT_LIMITS) for source in forms.values() if source]
    assert all(data[:2] == b"\x1f\x8b" for data in packed)
    # A folder packs to the same bytes every time: the same digest on a second import.
    assert bundle_archive(files, forms["1.0"], DEFAULT_LIMITS) == packed[0]  # type: ignore[arg-type]


def test_a_missing_required_member_names_the_file_and_the_member(
    aftermath: Aftermath, tmp_path: Path
) -> None:
    root = _copy(aftermath, tmp_path)
    _edit(
        root, f"environments/{pa.ENVIRONMENT}.json", lambda d: d["environment"].pop("templateName")
    )

    with pytest.raises(ExportError) as error:
        read_export_directory(root)

    assert error.value.file == f"environments/{pa.ENVIRONMENT}.json"
    assert error.value.field == "environment.templateName"
    assert "required" in str(error.value)


@pytest.mark.parametrize(
    ("path", "change", "field", "words"),
    [
        (
            f"environments/{pa.ENVIRONMENT}.json",
            lambda d: d["environment"].update(deploymentStatus="SOMETIMES"),
            "environment.deploymentStatus",
            "Proton's values are",
        ),
        (
            f"environments/{pa.ENVIRONMENT}.json",
            lambda d: d["environment"].update(name="other-env"),
            "environment.name",
            "named after",
        ),
        (
            f"environments/{pa.ENVIRONMENT}.json",
            lambda d: d["environment"].update(templateMajorVersion="1\u0661"),
            "environment.templateMajorVersion",
            "pattern",
        ),
        (
            f"services/{pa.FRONTEND}.json",
            lambda d: d["service"].update(spec=["not", "text"]),
            "service.spec",
            "must be a string",
        ),
        (
            f"services/{pa.FRONTEND}.json",
            lambda d: d["service"].update(createdAt="yesterday"),
            "service.createdAt",
            "time",
        ),
        (
            f"service-templates/{pa.SVC_TEMPLATE}/versions/1.1.json",
            lambda d: d["serviceTemplateVersion"].update(minorVersion="0"),
            "serviceTemplateVersion.majorVersion",
            "named after 1.1",
        ),
        (
            f"environments/{pa.ENVIRONMENT}.json",
            lambda d: d["environment"].update(spec="x" * 51_201),
            "environment.spec",
            "at most 51,200",
        ),
    ],
)
def test_a_member_proton_could_not_have_answered_is_refused_with_its_place(
    aftermath: Aftermath, tmp_path: Path, path: str, change: object, field: str, words: str
) -> None:
    root = _copy(aftermath, tmp_path)
    _edit(root, path, change)

    with pytest.raises(ExportError) as error:
        read_export_directory(root)

    assert (error.value.file, error.value.field) == (path, field)
    assert words in error.value.reason


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\xff\xfe not utf-8", "not UTF-8"),
        (b'{"environment": ', "not JSON"),
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (b'{"environment": ' + b'{"a": ' * 80 + b"1" + b"}" * 81, "nested too deeply"),
    ],
)
def test_a_file_that_is_no_answer_at_all_is_refused(
    aftermath: Aftermath, tmp_path: Path, content: bytes, words: str
) -> None:
    root = _copy(aftermath, tmp_path)
    (root / f"environments/{pa.ENVIRONMENT}.json").write_bytes(content)

    with pytest.raises(ExportError) as error:
        read_export_directory(root)

    assert error.value.file == f"environments/{pa.ENVIRONMENT}.json"
    assert words in error.value.reason


def test_a_file_larger_than_any_proton_answer_is_refused_before_it_is_parsed(
    aftermath: Aftermath, tmp_path: Path
) -> None:
    root = _copy(aftermath, tmp_path)
    limits = ExportLimits(max_json_bytes=10_000)
    (root / "components" / "huge.json").write_bytes(b" " * 10_001)

    with pytest.raises(ExportError) as error:
        read_export_directory(root, limits)

    assert error.value.file == "components/huge.json" and "10,001 bytes" in error.value.reason


def test_links_are_refused_rather_than_followed(aftermath: Aftermath, tmp_path: Path) -> None:
    root = _copy(aftermath, tmp_path)
    secret = tmp_path / "secret.json"
    secret.write_text("{}")
    os.symlink(secret, root / "environments" / "linked.json")

    with pytest.raises(ExportError) as error:
        read_export_directory(root)

    assert error.value.file == "environments/linked.json"


def test_members_and_files_an_export_does_not_hold_are_left_out_with_a_warning(
    aftermath: Aftermath, tmp_path: Path
) -> None:
    root = _copy(aftermath, tmp_path)
    _edit(root, f"components/{pa.COMPONENT}.json", lambda d: d["component"].update(newField=1))
    (root / "notes.txt").write_text("exported on Friday")
    (root / "bundles" / "README.md").write_text("the bundles")

    export = read_export_directory(root)

    assert (
        f"components/{pa.COMPONENT}.json: component.newField is not in Baryon's Proton "
        "model; ignored" in export.warnings
    )
    assert "notes.txt: not part of a Proton export; ignored" in export.warnings
    assert any(w.startswith("bundles/README.md: not a bundle") for w in export.warnings)


def test_a_directory_without_any_proton_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="how-to-export"):
        read_export({"notes.txt": b"hello"})
    with pytest.raises(ExportError, match="empty"):
        read_export({})


def test_two_bundles_for_one_version_are_refused(aftermath: Aftermath, tmp_path: Path) -> None:
    root = _copy(aftermath, tmp_path)
    shutil.copy(
        root / "bundles" / f"{pa.SVC_TEMPLATE}-1.1.tar.gz",
        root / "bundles" / f"{pa.SVC_TEMPLATE}-1.0.tgz",
    )

    with pytest.raises(ExportError, match="second bundle"):
        read_export_directory(root)


def test_the_export_script_calls_every_operation_whose_answer_is_read() -> None:
    script = how_to_export()
    for command in (
        "get-account-settings",
        "get-${kind}-template ",
        "get-${kind}-template-version",
        "get-environment ",
        "list-environment-outputs",
        "list-environment-provisioned-resources",
        "get-service ",
        "get-service-instance ",
        "list-service-instance-outputs",
        "list-service-pipeline-outputs",
        "list-service-pipeline-provisioned-resources",
        "get-component ",
        "list-component-outputs",
        "get-deployment",
        "list-tags-for-resource",
    ):
        assert command in script, command
    assert not script.startswith(" ") and "\t" not in script  # tr's '\t' is two characters
    checked = subprocess.run(
        ["bash", "-n"], input=script, text=True, capture_output=True, timeout=30
    )
    assert checked.returncode == 0, checked.stderr
