"""The render entry point: one IaC section of a bundle + a namespace -> files to deploy.

The manifest decides the engine: jinja/cloudformation renders its one file and checks that
the result parses as a CloudFormation template; hcl/terraform copies the .tf files and adds
the generated variables and tfvars; codebuild writes the inputs file and a CodeBuildPlan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from baryon.bundles.loader import IacSection
from baryon.render.cloudformation import parse_cloudformation
from baryon.render.codebuild import (
    CodeBuildPlan,
    check_project_properties,
    codebuild_plan,
    render_inputs_file,
)
from baryon.render.errors import RenderError
from baryon.render.inputs_document import KINDS
from baryon.render.jinja import check_template, render_text
from baryon.render.limits import DEFAULT_LIMITS, RenderLimits
from baryon.render.terraform import render_terraform_section

Engine = Literal["cloudformation", "terraform", "codebuild"]


@dataclass(frozen=True)
class RenderedSection:
    engine: Engine
    files: dict[str, str]  # name relative to the IaC folder -> text
    codebuild: CodeBuildPlan | None = None


def render_section(
    section: IacSection,
    namespace: Mapping[str, Any],
    *,
    kind: str,
    resource_arn: str,
    proton_tags: Mapping[str, str],
    limits: RenderLimits = DEFAULT_LIMITS,
) -> RenderedSection:
    """Render one section; `kind` is environment, service_instance, pipeline or component.
    `limits` come from the settings object; the defaults suit CloudFormation's own limits."""
    if kind not in KINDS:
        raise ValueError(f"unknown resource kind {kind!r}; expected one of {', '.join(KINDS)}")
    template = section.manifest.templates[0]
    if template.rendering_engine == "jinja":
        files = _render_cloudformation(section, namespace, limits)
        return RenderedSection("cloudformation", files)
    if template.rendering_engine == "hcl":
        files = render_terraform_section(
            section, namespace, kind=kind, resource_arn=resource_arn, proton_tags=proton_tags
        )
        return RenderedSection("terraform", files)
    if template.settings is None:  # the manifest parser guarantees settings for codebuild
        raise RenderError("codebuild template without settings", file=section.manifest.file)
    plan = codebuild_plan(
        template.settings,
        namespace,
        input_type=template.input_type,
        manifest_file=section.manifest.file,
        limits=limits,
    )
    # The folder's files as they are (commands are not templated), and the inputs beside them.
    files = {**section.files, plan.inputs_file: render_inputs_file(namespace, template.input_type)}
    return RenderedSection("codebuild", files, plan)


def check_section(section: IacSection, *, limits: RenderLimits = DEFAULT_LIMITS) -> None:
    """Compile every Jinja template of `section` as `render_section` would, rendering
    nothing; RenderError naming the file, line and Jinja's reason for the first that cannot
    compile. Terraform files are not templated; codebuild commands are passed through."""
    template = section.manifest.templates[0]
    if template.rendering_engine == "jinja":
        for name, text in section.files.items():
            check_template(text, file=f"{section.folder}/{name}", limits=limits)
    elif template.rendering_engine == "codebuild" and template.settings is not None:
        check_project_properties(
            template.settings.project_properties, file=section.manifest.file, limits=limits
        )


def _render_cloudformation(
    section: IacSection, namespace: Mapping[str, Any], limits: RenderLimits
) -> dict[str, str]:
    files = {}
    for name, text in section.files.items():
        where = f"{section.folder}/{name}"
        rendered = render_text(text, namespace, file=where, limits=limits)
        parse_cloudformation(rendered, where)
        files[name] = rendered
    return files
