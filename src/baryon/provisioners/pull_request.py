"""Self-managed provisioning: a resource's Terraform goes to a provisioning repository as a
pull request, and the customer's pipeline applies it (reference 4.1).

Baryon never runs this Terraform. ``deploy`` commits the resource's folder
(pull_request_files.py) to a branch named for the deployment and opens a pull request of it
into the repository's branch (on plain git and Baryon's own server, the pushed branch is the
request), then hands the deployment off: it stays IN_PROGRESS until the pull request is
merged and the pipeline calls NotifyResourceDeploymentStatusChange, or it is closed
(engine/pull_requests.py watches). ``destroy`` does the same with the folder's files marked
deleted; its merge completes the deletion.

Every step is safe to repeat after a crash: the branch is named from the deployment id, a
commit that would change nothing is not made, and the forge returns the pull request already
open for the branch instead of a second one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from baryon.git.access import RepositoryAccess
from baryon.git.errors import GitAuthRefused, GitLimitExceeded, GitNotFound
from baryon.git.forges.base import ForgeError
from baryon.provisioners.base import (
    DeploymentIO,
    DeployRequest,
    HandOff,
    Outcome,
    OutcomeStatus,
    ProvisioningEngine,
    ResourceIdentity,
)
from baryon.provisioners.pull_request_files import (
    ENVIRONMENTS_FOLDER,
    METADATA_FILE,
    Metadata,
    branch_name,
    deletion_changes,
    deploy_changes,
    metadata_json,
    pull_request_title,
    resource_folder,
)

# Who the commits are by: Baryon itself (Proton's were by its GitHub App).
AUTHOR = "Baryon <baryon@users.noreply.baryon.invalid>"
# A forge answering these refuses for good (bad credentials, no such repository, a pull
# request it will not open): retrying cannot help, so the deployment fails with its words.
_FINAL_FORGE_STATUSES = frozenset({400, 401, 403, 404, 410, 422})


@dataclass(frozen=True)
class ProvisioningRepository:
    """A repository and branch resources are proposed to (Proton's RepositoryBranch)."""

    provider: str
    name: str
    branch: str


@dataclass(frozen=True)
class PullRequestTarget:
    """Where a self-managed resource's pull request goes and what its metadata says."""

    repository: ProvisioningRepository
    # The environment an instance or component runs in: their folders are inside its folder.
    environment_name: str | None
    metadata: Metadata


class PullRequestProvisioner:
    """The Provisioner of a self-managed resource: proposes, never applies."""

    engine = ProvisioningEngine.TERRAFORM

    def __init__(self, access: RepositoryAccess, target: PullRequestTarget) -> None:
        self._access = access
        self._target = target

    def deploy(self, request: DeployRequest, io: DeploymentIO) -> Outcome:
        if io.cancel_requested():
            return Outcome(OutcomeStatus.CANCELLED, "Cancelled before the pull request was opened.")
        deployment_id = request.request_token or io.deployment_id
        if not deployment_id:
            raise ValueError("a pull request is named for its deployment: no deployment id")
        metadata = metadata_json(deployment_id, self._target.metadata, deleted=False)
        resource = request.resource
        files = request.section.files

        def changes(folder: str, existing: Mapping[str, bytes]) -> dict[str, bytes | None]:
            return deploy_changes(folder, existing, files, metadata, resource.arn)

        return self._propose(resource, deployment_id, changes, deletion=False, io=io)

    def destroy(self, resource: ResourceIdentity, io: DeploymentIO) -> Outcome:
        deployment_id = io.deployment_id
        if not deployment_id:
            raise ValueError("a pull request is named for its deployment: no deployment id")
        metadata = metadata_json(deployment_id, self._target.metadata, deleted=True)

        def changes(folder: str, existing: Mapping[str, bytes]) -> dict[str, bytes | None]:
            return deletion_changes(folder, existing, metadata, resource.arn)

        return self._propose(resource, deployment_id, changes, deletion=True, io=io)

    def cancel(self, resource: ResourceIdentity) -> None:
        """Nothing runs here: a waiting pull request is closed by its watcher."""

    def status(self, resource: ResourceIdentity) -> Outcome | None:
        return None  # what runs is the customer's; Baryon knows only what was reported

    def continue_rollback(
        self, resource: ResourceIdentity, resources_to_skip: Sequence[str], io: DeploymentIO
    ) -> Outcome:
        return Outcome(
            OutcomeStatus.FAILED,
            "A self-managed resource is provisioned by its repository's pipeline; Baryon has "
            "no rollback to continue.",
        )

    # --- inside ------------------------------------------------------------------------------

    def _propose(
        self,
        resource: ResourceIdentity,
        deployment_id: str,
        changes_in: Callable[[str, Mapping[str, bytes]], dict[str, bytes | None]],
        *,
        deletion: bool,
        io: DeploymentIO,
    ) -> Outcome:
        repository = self._target.repository
        remote = self._access.remote
        where = f"repository {repository.name} ({remote.url})"
        try:
            base_head = remote.branch_head(repository.branch)
            if base_head is None:
                return Outcome(
                    OutcomeStatus.FAILED,
                    f"The branch '{repository.branch}' of the provisioning {where} does not "
                    "exist; create it (or name another branch) and deploy again.",
                )
            layout_1 = ENVIRONMENTS_FOLDER in remote.folders_at(base_head, "")
            folder = resource_folder(
                resource.kind,
                resource.names,
                self._target.environment_name,
                layout_1=layout_1,
            )
            changes = changes_in(folder, remote.files_at(base_head, folder))
            if not changes:
                message = (
                    f"Nothing of {resource.arn} is in '{folder}/' on branch "
                    f"'{repository.branch}' of {where}: there is nothing to mark deleted."
                )
                io.log(message)
                return Outcome(OutcomeStatus.SUCCEEDED, message)
            branch = branch_name(resource.kind, deployment_id)
            title = pull_request_title(resource.arn)
            io.heartbeat()
            head = remote.commit_files(
                base_branch=repository.branch,
                branch=branch,
                changes=changes,
                message=title,
                author=AUTHOR,
            )
            if head == base_head:
                # The branch already holds these files (a deletion marked before): no change
                # to propose, and no branch left behind for one.
                remote.delete_branch(branch)
                message = (
                    f"'{folder}/' on branch '{repository.branch}' of {where} is already as "
                    "this deployment would write it."
                )
                io.log(message)
                return Outcome(OutcomeStatus.SUCCEEDED, message)
            io.log(f"Committed {len(changes)} file(s) under '{folder}/' to branch '{branch}'.")
            number, url = None, None
            forge = self._access.forge
            if forge is not None:
                opened = forge.open_pull_request(
                    repository.name,
                    head=branch,
                    base=repository.branch,
                    title=title,
                    body=_body(resource, deployment_id, folder, deletion),
                )
                number, url = opened.number, opened.url
        except (GitNotFound, GitAuthRefused, GitLimitExceeded) as exc:
            return Outcome(OutcomeStatus.FAILED, f"The provisioning {where}: {exc}")
        except ForgeError as exc:
            if exc.status in _FINAL_FORGE_STATUSES:
                return Outcome(OutcomeStatus.FAILED, f"The provisioning {where}: {exc.message}")
            raise  # the forge is down or slow: the job tries again (so does any GitError)
        waiting_for = _waiting_for(
            repository, branch, url, remote.url, deployment_id, folder, deletion
        )
        io.log(waiting_for)
        return Outcome(
            OutcomeStatus.HANDED_OFF,
            waiting_for,
            handoff=HandOff(
                repository_provider=repository.provider,
                repository_name=repository.name,
                base_branch=repository.branch,
                head_branch=branch,
                head_sha=head,
                number=number,
                url=url,
                deletion=deletion,
                waiting_for=waiting_for,
            ),
        )


def _waiting_for(
    repository: ProvisioningRepository,
    branch: str,
    url: str | None,
    remote_url: str,
    deployment_id: str,
    folder: str,
    deletion: bool,
) -> str:
    if url:
        opening = (
            f"Opened the pull request {url} (branch '{branch}' into '{repository.branch}' of "
            f"{repository.name}): waiting for it to be merged"
        )
    else:
        opening = (
            f"Pushed branch '{branch}' to repository {repository.name} ({remote_url}), this "
            f"deployment's pull request: waiting for it to be merged into '{repository.branch}'"
        )
    if deletion:
        return (
            f"{opening}; the merge completes the deletion (the files in '{folder}/' are marked "
            "deleted, for the repository's pipeline to destroy what they made)."
        )
    return (
        f"{opening}, then for the repository's pipeline to apply '{folder}/' and report with "
        f"notify-resource-deployment-status-change (deployment id {deployment_id}). Closing "
        "it without merging cancels the deployment."
    )


def _body(resource: ResourceIdentity, deployment_id: str, folder: str, deletion: bool) -> str:
    if deletion:
        return (
            f"Baryon deletes {resource.arn}: the files in `{folder}/` are marked deleted and "
            f"`{folder}/{METADATA_FILE}` says `isResourceDeleted`. Run `terraform destroy` "
            "there; merging this pull request completes the deletion in Baryon."
        )
    return (
        f"Baryon deployment {deployment_id} of {resource.arn}.\n\n"
        f"Merge this pull request, apply `{folder}/` (Terraform), then report the result:\n\n"
        f"    aws proton notify-resource-deployment-status-change --resource-arn "
        f"{resource.arn} --deployment-id {deployment_id} --status SUCCEEDED --outputs ...\n\n"
        "Closing this pull request without merging cancels the deployment."
    )
