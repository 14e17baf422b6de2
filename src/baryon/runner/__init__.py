"""Runs provisioning programs (Terraform, CodeBuild commands) for one deployment: a private
work directory, a sandbox where the machine has one, time, output and process limits, the
output streamed to the deployment's log, and cancellation that ends every process the run
started (ARCHITECTURE rule 7)."""

from baryon.runner.result import RunResult, RunStatus
from baryon.runner.runner import Runner
from baryon.runner.workspace import RunIO, Workspace, WorkspaceFileTooLarge

__all__ = ["RunIO", "RunResult", "RunStatus", "Runner", "Workspace", "WorkspaceFileTooLarge"]
