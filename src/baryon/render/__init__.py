"""Rendering: a bundle's IaC section + a resource's namespace -> the files to deploy.

Rendering is pure (ARCHITECTURE rule 6): no network, no clock, no randomness, no
environment variables, and the same inputs give the same bytes, so a preview shows exactly
what a deployment will use. Jinja runs in a sandbox with per-render budgets; every failure
is a RenderError naming the file and line.
"""

from baryon.render.cloudformation import parse_cloudformation
from baryon.render.codebuild import (
    CodeBuildPlan,
    proton_inputs_json,
    proton_inputs_tfvars,
    render_project_properties,
)
from baryon.render.context import (
    ComponentRef,
    EnvironmentRef,
    InstanceRef,
    ServiceRef,
    component_namespace,
    environment_namespace,
    instance_namespace,
    pipeline_namespace,
)
from baryon.render.errors import RenderError
from baryon.render.iac import RenderedSection, check_section, render_section
from baryon.render.jinja import render_text
from baryon.render.limits import DEFAULT_LIMITS, RenderLimits
from baryon.render.terraform import (
    TFVARS_FILE,
    render_terraform_section,
    tfvars_json,
    variables_file,
    variables_tf,
)

__all__ = [
    "DEFAULT_LIMITS",
    "TFVARS_FILE",
    "CodeBuildPlan",
    "ComponentRef",
    "EnvironmentRef",
    "InstanceRef",
    "RenderError",
    "RenderLimits",
    "RenderedSection",
    "ServiceRef",
    "check_section",
    "component_namespace",
    "environment_namespace",
    "instance_namespace",
    "parse_cloudformation",
    "pipeline_namespace",
    "proton_inputs_json",
    "proton_inputs_tfvars",
    "render_project_properties",
    "render_section",
    "render_terraform_section",
    "render_text",
    "tfvars_json",
    "variables_file",
    "variables_tf",
]
