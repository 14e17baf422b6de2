"""One plain function per API operation: request dict in, response dict out.

Importing this package registers every handler with the front door.
"""

from baryon.operations import (  # noqa: F401  (imported for their registrations)
    account_settings,
    approvals,
    audit_records,
    bundle_uploads,
    components,
    connections,
    deletion_protection,
    deployment_plans,
    deployment_previews,
    deployment_recovery,
    deployment_status_reports,
    deployments,
    drift,
    environment_account_connections,
    environments,
    fleet_previews,
    identities,
    imports,
    policies,
    repositories,
    rollbacks,
    rollouts,
    server_info,
    service_instances,
    service_sync,
    services,
    tags,
    template_sync,
    template_versions,
    templates,
)
