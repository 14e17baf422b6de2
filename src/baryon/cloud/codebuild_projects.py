"""UpdateProject for the local cloud's CodeBuild, which moto lacks: Baryon's AWS CodeBuild mode
(provisioners/codebuild_aws.py) updates a resource's project on every deploy after its first.

As on AWS, the members a request gives replace the project's; the rest stay.
"""

from __future__ import annotations

from typing import Any

from baryon.cloud.patching import installs_once

# UpdateProject members that are not the project's own fields.
_NOT_FIELDS = {"name"}


@installs_once
def install() -> None:
    from moto.codebuild.exceptions import ResourceNotFoundException
    from moto.codebuild.responses import CodeBuildResponse
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow

    def update_project(self: Any) -> Any:
        name = self._get_param("name")
        project = self.codebuild_backend.codebuild_projects.get(name)
        if project is None:
            raise ResourceNotFoundException(f"Project cannot be found: {name}")
        for member, value in self._get_params().items():
            if member not in _NOT_FIELDS and value is not None:
                project.project_metadata[member] = value
        if "serviceRole" in project.project_metadata:
            project.service_role = project.project_metadata["serviceRole"]
        project.project_metadata["lastModified"] = utcnow()
        return ActionResult({"project": project.project_metadata})

    setattr(CodeBuildResponse, "update_project", update_project)  # noqa: B010
