"""Cedar actions: every operation of the Proton and baryon models, grouped so that the
built-in policies stay short (``action in Baryon::Action::"service_changes"``).

An operation is ``Proton::Action::"CreateService"`` or ``Baryon::Action::"StartImport"``; a
group is a ``Baryon::Action`` whose id is an ActionGroup value. An operation this table does
not name is a read when its name starts with Get or List. Every other operation must be named
here: tests/auth/test_policies_actions.py fails for one that is in no group (or in two), so a
new operation cannot slip in unnoticed. Should one reach a server anyway, it is in no group
and only a policy that names it (or allows every action, as admin's does) allows it.
"""

from __future__ import annotations

import functools
from enum import StrEnum

from baryon.service_models import BARYON, PROTON, service_model

PROTON_NAMESPACE = "Proton"
BARYON_NAMESPACE = "Baryon"


class ActionGroup(StrEnum):
    READS = "reads"  # Get*, List*, previews and plans: changes nothing
    TEMPLATE_CHANGES = "template_changes"  # templates, their versions, template sync
    ENVIRONMENT_CHANGES = "environment_changes"
    CONNECTION_CHANGES = "connection_changes"  # account connections, repositories, forges
    SERVICE_CHANGES = "service_changes"  # services, instances, pipelines, components, sync
    # Retry, roll back, delete a deployment record; one resource's rollback belongs here too
    # (developers roll back service resources, platform anything).
    DEPLOYMENT_CHANGES = "deployment_changes"
    DEPLOYMENT_REPORTS = "deployment_reports"  # a pipeline reporting its deployment's outcome
    TAGGING = "tagging"
    ACCOUNT_CHANGES = "account_changes"  # account settings
    IMPORTS = "imports"  # taking over what Proton left behind
    POLICY_CHANGES = "policy_changes"
    IDENTITY_CHANGES = "identity_changes"  # users, robots, teams, their members and roles
    AUDIT_READS = "audit_reads"  # the audit trail: who did what, with spec differences
    APPROVALS = "approvals"  # deciding a deployment that waits for approval
    APPROVAL_RULES = "approval_rules"  # which deployments wait
    DELETION_PROTECTION = "deletion_protection"
    # Issue 18's fleet operations; a group may be empty until its operations land.
    ROLLOUTS = "rollouts"  # staged fleet rollouts: start, pause, resume, cancel
    FLEET_PREVIEWS = "fleet_previews"  # computing what a fleet upgrade would change
    DRIFT_CHECKS = "drift_checks"  # asking for a drift check (reports and lists are reads)
    DRIFT_DECISIONS = "drift_decisions"  # re-apply, accept or ignore a drift item


_GROUPS: dict[ActionGroup, frozenset[str]] = {
    ActionGroup.TEMPLATE_CHANGES: frozenset(
        {
            "CreateEnvironmentTemplate",
            "UpdateEnvironmentTemplate",
            "DeleteEnvironmentTemplate",
            "CreateEnvironmentTemplateVersion",
            "UpdateEnvironmentTemplateVersion",
            "DeleteEnvironmentTemplateVersion",
            "CreateServiceTemplate",
            "UpdateServiceTemplate",
            "DeleteServiceTemplate",
            "CreateServiceTemplateVersion",
            "UpdateServiceTemplateVersion",
            "DeleteServiceTemplateVersion",
            "CreateTemplateSyncConfig",
            "UpdateTemplateSyncConfig",
            "DeleteTemplateSyncConfig",
            "CreateBundleUpload",
        }
    ),
    ActionGroup.ENVIRONMENT_CHANGES: frozenset(
        {
            "CreateEnvironment",
            "UpdateEnvironment",
            "DeleteEnvironment",
            "CancelEnvironmentDeployment",
        }
    ),
    ActionGroup.CONNECTION_CHANGES: frozenset(
        {
            "CreateEnvironmentAccountConnection",
            "UpdateEnvironmentAccountConnection",
            "DeleteEnvironmentAccountConnection",
            "AcceptEnvironmentAccountConnection",
            "RejectEnvironmentAccountConnection",
            "CreateRepository",
            "DeleteRepository",
            "CreateConnection",
            "DeleteConnection",
        }
    ),
    ActionGroup.SERVICE_CHANGES: frozenset(
        {
            "CreateService",
            "UpdateService",
            "DeleteService",
            "CreateServiceInstance",
            "UpdateServiceInstance",
            "CancelServiceInstanceDeployment",
            "UpdateServicePipeline",
            "CancelServicePipelineDeployment",
            "CreateComponent",
            "UpdateComponent",
            "DeleteComponent",
            "CancelComponentDeployment",
            "CreateServiceSyncConfig",
            "UpdateServiceSyncConfig",
            "DeleteServiceSyncConfig",
            "UpdateServiceSyncBlocker",
        }
    ),
    ActionGroup.DEPLOYMENT_CHANGES: frozenset(
        {"DeleteDeployment", "RetryDeployment", "ContinueUpdateRollback", "RollbackResource"}
    ),
    ActionGroup.DEPLOYMENT_REPORTS: frozenset({"NotifyResourceDeploymentStatusChange"}),
    ActionGroup.TAGGING: frozenset({"TagResource", "UntagResource"}),
    ActionGroup.ACCOUNT_CHANGES: frozenset({"UpdateAccountSettings"}),
    ActionGroup.IMPORTS: frozenset({"StartImport", "UndoImport"}),
    ActionGroup.POLICY_CHANGES: frozenset({"PutPolicy", "DeletePolicy", "ResetPolicy"}),
    ActionGroup.IDENTITY_CHANGES: frozenset(
        {
            "CreateUser",
            "DeleteUser",
            "CreateTeam",
            "DeleteTeam",
            "AddTeamMember",
            "RemoveTeamMember",
            "GrantRole",
            "RevokeRole",
        }
    ),
    # A read by name, but not one every role gets: the records hold spec differences and
    # every principal's doings.
    ActionGroup.AUDIT_READS: frozenset({"ListAuditRecords", "VerifyAuditTrail"}),
    ActionGroup.APPROVALS: frozenset(
        {"ApproveDeployment", "RejectDeployment", "ApproveRollout", "ApproveFleetPreview"}
    ),
    ActionGroup.APPROVAL_RULES: frozenset({"PutApprovalRule", "DeleteApprovalRule"}),
    ActionGroup.DELETION_PROTECTION: frozenset({"SetDeletionProtection"}),
    ActionGroup.ROLLOUTS: frozenset(
        {
            "CreateRollout",
            "StartRollout",
            "PauseRollout",
            "ResumeRollout",
            "CancelRollout",
            "RollbackRollout",
            # A wave of rollbacks at once (each entry is also decided as RollbackResource).
            "RollbackResources",
        }
    ),
    ActionGroup.FLEET_PREVIEWS: frozenset(
        {"PreviewRollout", "CreateFleetPreview", "DeleteFleetPreview"}
    ),
    ActionGroup.DRIFT_CHECKS: frozenset({"StartDriftCheck"}),
    ActionGroup.DRIFT_DECISIONS: frozenset({"DecideDriftItem"}),
}

# Reads whose names do not say so.
_OTHER_READS = frozenset({"TestAuthorization", "PreviewRollback", "PreviewRolloutRollback"})


def group_of(operation: str) -> ActionGroup | None:
    for group, operations in _GROUPS.items():
        if operation in operations:
            return group
    if operation.startswith(("Get", "List")) or operation in _OTHER_READS:
        return ActionGroup.READS
    return None


def groups_naming(operation: str) -> tuple[ActionGroup, ...]:
    """Every group whose table names ``operation`` (reads by name not counted): a test holds
    each operation to exactly one group."""
    return tuple(group for group, operations in _GROUPS.items() if operation in operations)


def grouped_operations() -> frozenset[str]:
    """Every operation a group's table names."""
    return frozenset().union(*_GROUPS.values())


def is_read(operation: str) -> bool:
    return group_of(operation) is ActionGroup.READS


def namespace_of(operation: str) -> str | None:
    """``Proton`` or ``Baryon``: whose model names the operation; None for neither."""
    for namespace, operations in all_operations().items():
        if operation in operations:
            return namespace
    return None


@functools.cache
def all_operations() -> dict[str, frozenset[str]]:
    """Every operation, by namespace."""
    return {
        PROTON_NAMESPACE: frozenset(service_model(PROTON).operation_names),
        BARYON_NAMESPACE: frozenset(service_model(BARYON).operation_names),
    }
