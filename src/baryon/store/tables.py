"""The relational schema, shared by SQLite (embedded) and PostgreSQL (scaled).

Changes go through an Alembic migration in ``store/migrations``; a test checks that the
migrations produce exactly these tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from baryon.store.spec_texts import StateWithStoredSpec, StoredText

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC; SQLite drops tzinfo, so it is restored on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class AccessKey(Base):
    __tablename__ = "access_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    access_key_id: Mapped[str] = mapped_column(String(128), unique=True)
    # Fernet ciphertext of the secret under the master key, which never enters the database.
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    description: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The AWS account the key acts for; None: the management account (settings.account_id).
    # A key for another account (an environment account) may only request and manage its
    # environment account connections (auth/access_keys.py).
    account_id: Mapped[str | None] = mapped_column(String(12))
    # The user or robot the key acts as (auth/identities.py); None: the built-in robot admin.
    # Deleting the owner deletes its keys: a key must never outlive its owner and act as admin.
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )


class AccountSettingsRow(Base):
    __tablename__ = "account_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pipeline_service_role_arn: Mapped[str | None] = mapped_column(String(2048))
    pipeline_codebuild_role_arn: Mapped[str | None] = mapped_column(String(2048))
    pipeline_repository: Mapped[dict | None] = mapped_column(JSON)


class Template(Base):
    """An environment template or a service template; ``kind`` keeps the name spaces apart."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("kind", "name", name="uq_templates_kind_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # ENVIRONMENT | SERVICE
    name: Mapped[str] = mapped_column(String(100))
    display_name: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    encryption_key: Mapped[str | None] = mapped_column(String(200))
    # ENVIRONMENT: provisioning; SERVICE: pipelineProvisioning. Only value: CUSTOMER_MANAGED.
    provisioning: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_modified_at: Mapped[datetime] = mapped_column(UtcDateTime)

    versions: Mapped[list[TemplateVersion]] = relationship(back_populates="template")


class TemplateVersion(Base):
    __tablename__ = "template_versions"
    __table_args__ = (
        UniqueConstraint("template_id", "major", "minor", name="uq_template_versions_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id", ondelete="CASCADE"))
    major: Mapped[int] = mapped_column(BigInteger)
    minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(32))
    status_message: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(String(500))
    source: Mapped[dict] = mapped_column(JSON)  # {"s3": {"bucket", "key"}}
    schema_text: Mapped[str | None] = mapped_column(Text)
    # The checked bundle archive, kept so that rendering never depends on S3 again.
    bundle: Mapped[bytes | None] = mapped_column(LargeBinary)
    bundle_digest: Mapped[str | None] = mapped_column(String(64))
    compatible_environment_templates: Mapped[list | None] = mapped_column(JSON)
    supported_component_sources: Mapped[list | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_modified_at: Mapped[datetime] = mapped_column(UtcDateTime)

    template: Mapped[Template] = relationship(back_populates="versions")


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("resource_arn", "key", name="uq_tags_resource_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_arn: Mapped[str] = mapped_column(String(1024), index=True)
    key: Mapped[str] = mapped_column(String(128))
    value: Mapped[str] = mapped_column(String(256))


class IdempotencyToken(Base):
    """Remembers a clientToken so that a retried create returns what the first one made."""

    __tablename__ = "idempotency_tokens"
    __table_args__ = (
        UniqueConstraint("operation", "client_token", name="uq_idempotency_tokens_op_token"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operation: Mapped[str] = mapped_column(String(100))
    client_token: Mapped[str] = mapped_column(String(64))
    request_digest: Mapped[str] = mapped_column(String(64))
    resource_ref: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Job(Base):
    """Durable work for the workers (ARCHITECTURE rule 3); a lease says who runs it."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_claim", "status", "run_after"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # QUEUED | RUNNING | DONE | FAILED
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime] = mapped_column(UtcDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SpecText(Base):
    """One spec's text, under its SHA-256: rows that carry a spec name it by this key."""

    __tablename__ = "spec_texts"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    text: Mapped[str] = mapped_column(Text)


class DeploymentColumns:
    """What every deployed resource records about its deployments (components included)."""

    deployment_status: Mapped[str] = mapped_column(String(32))
    deployment_status_message: Mapped[str | None] = mapped_column(Text)
    last_attempted_deployment_id: Mapped[str | None] = mapped_column(String(36))
    last_succeeded_deployment_id: Mapped[str | None] = mapped_column(String(36))
    last_deployment_attempted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_deployment_succeeded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_modified_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DeployableColumns(DeploymentColumns):
    """Resources deployed from a template version: environments, instances, pipelines.

    ``template_*``, ``spec`` and ``inputs`` describe the last successfully deployed state; an
    attempt in flight is described by its Deployment's target state until it succeeds.
    """

    template_major: Mapped[int] = mapped_column(BigInteger)
    template_minor: Mapped[int] = mapped_column(BigInteger)
    # The spec's text is in spec_texts (store/spec_texts.py), kept once however many name it.
    spec_key: Mapped[str | None] = mapped_column(String(64), index=True)
    spec = StoredText("spec_key")
    # The spec's inputs merged with the schema's defaults, exactly as rendered.
    inputs: Mapped[dict | None] = mapped_column(JSON)


class Environment(DeployableColumns, Base):
    __tablename__ = "environments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"))
    template_name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    provisioning: Mapped[str | None] = mapped_column(String(32))
    proton_service_role_arn: Mapped[str | None] = mapped_column(String(2048))
    codebuild_role_arn: Mapped[str | None] = mapped_column(String(2048))
    component_role_arn: Mapped[str | None] = mapped_column(String(2048))
    environment_account_connection_id: Mapped[str | None] = mapped_column(String(36))
    environment_account_id: Mapped[str | None] = mapped_column(String(12))
    provisioning_repository: Mapped[dict | None] = mapped_column(JSON)


class Service(Base):
    __tablename__ = "services"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"))
    template_name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    spec_key: Mapped[str | None] = mapped_column(String(64), index=True)
    spec = StoredText("spec_key")
    status: Mapped[str] = mapped_column(String(40))
    status_message: Mapped[str | None] = mapped_column(Text)
    repository_connection_arn: Mapped[str | None] = mapped_column(String(200))
    repository_id: Mapped[str | None] = mapped_column(String(200))
    branch_name: Mapped[str | None] = mapped_column(String(200))
    # The major version the service was created with; instances added later start there.
    template_major: Mapped[int] = mapped_column(BigInteger)
    # The create/update/delete in flight: {"deployments": [ids], "pipeline": id waiting for
    # the instances to finish, or null}. Null when the service is at rest.
    operation: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_modified_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ServiceInstance(DeployableColumns, Base):
    __tablename__ = "service_instances"
    __table_args__ = (
        UniqueConstraint("service_id", "name", name="uq_service_instances_service_name"),
        Index("ix_service_instances_listing", "service_name", "name"),
        Index("ix_service_instances_environment", "environment_id"),
        # ListServiceInstances sorted by time: a page is an index range scan, not a sort of
        # the whole fleet (the keys are the sort column and the listing's tie-breakers).
        Index(
            "ix_service_instances_by_attempt",
            "last_deployment_attempted_at",
            "service_name",
            "name",
            "id",
        ),
        Index("ix_service_instances_by_creation", "created_at", "service_name", "name", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"))
    name: Mapped[str] = mapped_column(String(100))
    # Names never change in Proton; copies here let listings filter and sort without joins.
    service_name: Mapped[str] = mapped_column(String(100))
    environment_name: Mapped[str] = mapped_column(String(100))
    template_name: Mapped[str] = mapped_column(String(100))
    last_client_request_token: Mapped[str | None] = mapped_column(String(64))


class ServicePipeline(DeployableColumns, Base):
    __tablename__ = "service_pipelines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), unique=True)


class Component(DeploymentColumns, Base):
    """A directly defined component: IaC a developer supplies inline, deployed in an
    environment and optionally attached to one service instance (as its "default")."""

    __tablename__ = "components"
    __table_args__ = (Index("ix_components_attachment", "service_name", "service_instance_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(String(500))
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    environment_name: Mapped[str] = mapped_column(String(100))
    service_name: Mapped[str | None] = mapped_column(String(100))
    service_instance_name: Mapped[str | None] = mapped_column(String(100))
    # The deployed state (the Deployment's plan holds an attempt's until it succeeds).
    manifest: Mapped[str] = mapped_column(Text)
    template_file: Mapped[str] = mapped_column(Text)
    service_spec: Mapped[str | None] = mapped_column(Text)
    last_client_request_token: Mapped[str | None] = mapped_column(String(64))


class Deployment(Base):
    """One attempt to bring a resource to a target state (or to delete it)."""

    __tablename__ = "deployments"
    __table_args__ = (Index("ix_deployments_target", "target_arn", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    target_type: Mapped[str] = mapped_column(String(32))  # ENVIRONMENT | SERVICE_INSTANCE | ...
    target_arn: Mapped[str] = mapped_column(String(1024))
    operation: Mapped[str] = mapped_column(String(16))  # DEPLOY | DELETE
    environment_name: Mapped[str] = mapped_column(String(100), index=True)
    service_name: Mapped[str | None] = mapped_column(String(100), index=True)
    service_instance_name: Mapped[str | None] = mapped_column(String(100))
    component_name: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(32))
    status_message: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    # The engine's rollback failed too (UPDATE_ROLLBACK_FAILED): ContinueUpdateRollback is due.
    rollback_failed: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The states as Proton reports them; their spec is in spec_texts (store/spec_texts.py).
    initial_state_document: Mapped[dict | None] = mapped_column("initial_state", JSON)
    initial_spec_key: Mapped[str | None] = mapped_column(String(64), index=True)
    initial_state = StateWithStoredSpec("initial_state_document", "initial_spec_key")
    target_state_document: Mapped[dict | None] = mapped_column("target_state", JSON)
    target_spec_key: Mapped[str | None] = mapped_column(String(64), index=True)
    target_state = StateWithStoredSpec("target_state_document", "target_spec_key")
    # What the worker needs beyond the modeled states: template version id, resolved inputs.
    plan: Mapped[dict] = mapped_column(JSON)
    # The resource's last deployments when this one was created (Proton reports both).
    last_attempted_deployment_id: Mapped[str | None] = mapped_column(String(36))
    last_succeeded_deployment_id: Mapped[str | None] = mapped_column(String(36))
    target_resource_created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_modified_at: Mapped[datetime] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The approved fleet preview item (fleet_preview_items.id) whose change set or saved plan
    # this deployment must carry out exactly (domain/fleet_previews.py); no foreign key: the
    # deployment's record outlives a deleted preview, and its job then fails fast.
    fleet_preview_item_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # A rollback: the deployment it takes back (domain/rollbacks.py). No foreign key, as above:
    # the link is history and outlives either record's resource.
    reverses_deployment_id: Mapped[str | None] = mapped_column(String(36), index=True)


class DeploymentEvent(Base):
    """The story of a deployment: what the engine and the cloud reported, in order."""

    __tablename__ = "deployment_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[str] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    message: Mapped[str] = mapped_column(Text)


class DeploymentOutput(Base):
    __tablename__ = "deployment_outputs"
    __table_args__ = (UniqueConstraint("deployment_id", "key", name="uq_deployment_outputs_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(1024))
    value: Mapped[str] = mapped_column(Text)


class ProvisionedResourceRow(Base):
    """What a resource's last successful deployment left in the cloud."""

    __tablename__ = "provisioned_resources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_arn: Mapped[str] = mapped_column(String(1024), index=True)
    name: Mapped[str] = mapped_column(String(200))
    identifier: Mapped[str] = mapped_column(String(2048))
    engine: Mapped[str] = mapped_column(String(32))
    # The local cloud simulated it (moto lacks the type): nothing real stands behind it.
    simulated: Mapped[bool] = mapped_column(default=False, server_default=false())


class User(Base):
    """A person who signs in to the portal (with a password or OpenID Connect), or a robot that
    only has access keys (auth/identities.py)."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("oidc_issuer", "oidc_subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # "scrypt$n$r$p$salt$hash" (base64 parts): the parameters travel with each hash. Empty for
    # robots and for people who sign in with OpenID Connect: an empty hash never matches.
    password_hash: Mapped[str] = mapped_column(String(256))
    # auth.identities.UserKind
    kind: Mapped[str] = mapped_column(String(16), default="person", server_default="person")
    display_name: Mapped[str | None] = mapped_column(String(256))
    email: Mapped[str | None] = mapped_column(String(320))
    # Who the user is at an OpenID Connect provider: the ID token's iss and sub.
    oidc_issuer: Mapped[str | None] = mapped_column(String(1024))
    oidc_subject: Mapped[str | None] = mapped_column(String(255))
    # Consecutive failed sign-ins, and until when sign-in is refused after too many.
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    password_changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WebSession(Base):
    """A signed-in browser. In the database, so that any portal replica recognises it; only a
    hash of the cookie's token is kept, so a copy of the database signs no one in."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Every form of the session carries it; a POST without it is refused.
    csrf_token: Mapped[str] = mapped_column(String(64))
    # A one-time message for the next page (set by an action, shown after its redirect).
    flash: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class TrustedDevice(Base):
    """A browser that has signed in as a user: a random token in a cookie, only its hash here.
    Others' wrong passwords do not pause the user's sign-in in it (web/devices.py)."""

    __tablename__ = "trusted_devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Wrong passwords typed in this browser since its last sign-in; after a few it is trusted
    # no more, so a stolen cookie buys only a few guesses.
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class TerraformStateVersion(Base):
    """One version of a resource's Terraform state, as Terraform wrote it through Baryon's
    HTTP state backend. Every version is kept, so a bad apply can be undone by hand."""

    __tablename__ = "terraform_state_versions"
    __table_args__ = (
        UniqueConstraint("resource_arn", "version", name="uq_terraform_state_versions_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_arn: Mapped[str] = mapped_column(String(1024))
    version: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per resource
    # Fernet ciphertext under the master key: state holds every secret Terraform saw.
    state_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    # The deployment that held the lock when it was written (None: written unlocked).
    written_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TerraformStateLock(Base):
    """Who holds a resource's Terraform state: the deployment (holder) and Terraform's own
    lock id and info, answered to anyone else who asks (423 Locked)."""

    __tablename__ = "terraform_state_locks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_arn: Mapped[str] = mapped_column(String(1024), unique=True)
    lock_id: Mapped[str] = mapped_column(String(128))
    holder: Mapped[str] = mapped_column(String(128))
    info: Mapped[str] = mapped_column(Text)  # Terraform's lock info JSON, as it sent it
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TerraformPlan(Base):
    """The plan a Terraform deployment applied: its one-line summary and `show -json`."""

    __tablename__ = "terraform_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[str] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), unique=True
    )
    summary: Mapped[str] = mapped_column(Text)
    # Encrypted like state: a plan shows the values of every variable.
    plan_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ScopedAccessKey(Base):
    """A short-lived access key a provisioning program gets for one run: it signs requests
    like any access key but may act only on ``resource_arn`` (auth/scoped_keys.py), stops
    working at ``expires_at`` by itself, and is deleted when the run ends."""

    __tablename__ = "scoped_access_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    access_key_id: Mapped[str] = mapped_column(String(128), unique=True)
    # Fernet ciphertext under the master key, as for every other access key.
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    resource_arn: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class AppliedSection(Base):
    """What a resource's last run of a program-running provisioner (CodeBuild, Terraform) was
    given: its files, commands and role. Deleting the resource needs no bundle
    (engine/provisioning.py), yet its ``deprovision`` commands, or the Terraform provider
    settings a destroy needs, are in the bundle; Proton kept them in the CodeBuild project or
    its Terraform workspace."""

    __tablename__ = "applied_sections"
    __table_args__ = (
        UniqueConstraint("engine", "resource_arn", name="uq_applied_sections_engine_resource"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The provisioner's ProvisioningEngine value: each engine keeps its own.
    engine: Mapped[str] = mapped_column(String(32))
    resource_arn: Mapped[str] = mapped_column(String(1024))
    # {"files": {name: text}, "role_arn": ..., and an engine's own keys (CodeBuild's
    # "provision", "deprovision", "image", ...)}: the provisioner reads and writes it.
    section: Mapped[dict] = mapped_column(JSON)
    # IN_PROGRESS, SUCCEEDED or FAILED: how the last run ended, and the outputs it reported.
    status: Mapped[str] = mapped_column(String(32))
    outputs: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


# --- git: connections, repositories, sync and pull requests (issue 13) ----------------------


class Connection(Base):
    """How Baryon reaches a git provider (the baryon model's CreateConnection): which forge,
    where, and with what secret. Repositories name a connection by its ARN."""

    __tablename__ = "connections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Baryon's own (arn:aws:baryon:...:connection/<id>) or a CodeStar connection ARN a Proton
    # user already had, registered so that their specs and scripts keep working.
    arn: Mapped[str] = mapped_column(String(1024), unique=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    provider: Mapped[str] = mapped_column(String(32))  # domain.git.ConnectionProvider
    # GitHub Enterprise / GitLab self-managed API root, or a plain git host's URL prefix.
    base_url: Mapped[str | None] = mapped_column(String(1024))
    # Fernet ciphertext (master key) of the JSON of domain.git.ConnectionSecrets.
    secrets_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Repository(Base):
    """A repository registered with CreateRepository: a name in a provider's name space,
    reached through a connection."""

    __tablename__ = "repositories"
    __table_args__ = (UniqueConstraint("provider", "name", name="uq_repositories_provider_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    arn: Mapped[str] = mapped_column(String(1024), unique=True)
    provider: Mapped[str] = mapped_column(String(32))  # proton.RepositoryProvider
    name: Mapped[str] = mapped_column(String(100))  # "owner/name"
    connection_arn: Mapped[str] = mapped_column(String(1024), index=True)
    encryption_key: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RepositoryBranch(Base):
    """The last commit Baryon acted on for a branch it watches (template sync, service sync,
    pull requests), so a push or a poll is handled once, and polling knows what changed."""

    __tablename__ = "repository_branches"
    __table_args__ = (
        UniqueConstraint(
            "repository_provider", "repository_name", "branch", name="uq_repository_branches"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_provider: Mapped[str] = mapped_column(String(32))
    repository_name: Mapped[str] = mapped_column(String(100))
    branch: Mapped[str] = mapped_column(String(200))
    last_sha: Mapped[str | None] = mapped_column(String(64))
    checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TemplateSyncConfigRow(Base):
    __tablename__ = "template_sync_configs"
    __table_args__ = (
        UniqueConstraint("template_type", "template_name", name="uq_template_sync_configs"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    template_type: Mapped[str] = mapped_column(String(16))  # proton.TemplateType
    template_name: Mapped[str] = mapped_column(String(100))
    repository_provider: Mapped[str] = mapped_column(String(32))
    repository_name: Mapped[str] = mapped_column(String(100))
    branch: Mapped[str] = mapped_column(String(200))
    subdirectory: Mapped[str | None] = mapped_column(String(4096))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_modified_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The TEMPLATE_SYNC job syncing this template now: one at a time per template; a job whose
    # lease lapsed loses the claim to the next (engine/template_sync.py).
    sync_job_id: Mapped[int | None] = mapped_column(Integer)


class ServiceSyncConfigRow(Base):
    __tablename__ = "service_sync_configs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_name: Mapped[str] = mapped_column(String(100), unique=True)
    repository_provider: Mapped[str] = mapped_column(String(32))
    repository_name: Mapped[str] = mapped_column(String(100))
    branch: Mapped[str] = mapped_column(String(200))
    file_path: Mapped[str] = mapped_column(String(4096))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_modified_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SyncAttemptRow(Base):
    """One sync attempt: of a repository branch (GetRepositorySyncStatus), of a template or of
    a service instance (GetTemplateSyncStatus, GetServiceInstanceSyncStatus), with its events."""

    __tablename__ = "sync_attempts"
    __table_args__ = (Index("ix_sync_attempts_target", "sync_type", "scope", "target", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sync_type: Mapped[str] = mapped_column(String(16))  # proton.SyncType
    scope: Mapped[str] = mapped_column(String(16))  # domain.git.SyncScope
    # REPOSITORY: "<provider>/<owner>/<name>@<branch>"; TEMPLATE: "<type>/<template>/<major>";
    # INSTANCE: "<service>/<instance>".
    target: Mapped[str] = mapped_column(String(512))
    # proton.ResourceSyncStatus (resources) or proton.RepositorySyncStatus (repositories).
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    initial_revision: Mapped[dict | None] = mapped_column(JSON)  # proton.Revision
    target_revision: Mapped[dict | None] = mapped_column(JSON)
    # [{"event", "type", "time" (ISO 8601), "externalId"?}], oldest first.
    events: Mapped[list] = mapped_column(JSON)


class SyncBlockerRow(Base):
    __tablename__ = "sync_blockers"
    __table_args__ = (Index("ix_sync_blockers_service", "service_name", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    service_name: Mapped[str] = mapped_column(String(100))
    # None: the blocker holds the whole service (an instance was deleted by hand).
    service_instance_name: Mapped[str | None] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(16))  # proton.BlockerType
    status: Mapped[str] = mapped_column(String(16))  # proton.BlockerStatus
    created_reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolved_reason: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    contexts: Mapped[list] = mapped_column(JSON)  # [{"key", "value"}]


class PullRequestRow(Base):
    """A self-managed deployment's pull request (or, on plain git, its pushed branch): the
    deployment stays IN_PROGRESS until it is merged and reported, closed, or times out."""

    __tablename__ = "pull_requests"
    __table_args__ = (Index("ix_pull_requests_open", "state", "repository_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[str] = mapped_column(String(36), unique=True)
    resource_arn: Mapped[str] = mapped_column(String(1024), index=True)
    repository_provider: Mapped[str] = mapped_column(String(32))
    repository_name: Mapped[str] = mapped_column(String(100))
    base_branch: Mapped[str] = mapped_column(String(200))
    head_branch: Mapped[str] = mapped_column(String(250))
    head_sha: Mapped[str] = mapped_column(String(64))
    number: Mapped[int | None] = mapped_column(BigInteger)  # None on plain git
    url: Mapped[str | None] = mapped_column(String(2048))
    state: Mapped[str] = mapped_column(String(16))  # domain.git.PullRequestStatus
    # The pull request marks the resource's files deleted (isResourceDeleted).
    deletion: Mapped[bool] = mapped_column(default=False, server_default=false())
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    merged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AdoptedStackRow(Base):
    """A stack that Baryon did not create but manages for a resource (one imported from
    Proton keeps its ``AWSProton-...`` stack): every CloudFormation operation on the resource
    targets this stack instead of the name Baryon would derive (domain/adoption.py)."""

    __tablename__ = "adopted_stacks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_arn: Mapped[str] = mapped_column(String(1024), unique=True)
    engine: Mapped[str] = mapped_column(String(32))  # domain.adoption.AdoptedEngine
    # Stack names are unique per account and region only; the id (an ARN) is unique.
    stack_name: Mapped[str] = mapped_column(String(128), index=True)
    stack_id: Mapped[str] = mapped_column(String(1024), unique=True)
    source: Mapped[str] = mapped_column(String(32))  # domain.adoption.AdoptionSource
    adopted_at: Mapped[datetime] = mapped_column(UtcDateTime)


# --- imports from AWS Proton (issue 14) -------------------------------------------------------


class ImportRow(Base):
    """One ``baryon import``: the packed export it reads, and how far its plan got. The plan's
    items are ImportItemRow rows; an APPLY import applies them in order, each in the
    transaction that marks it, so that an interrupted import resumes where it stopped."""

    __tablename__ = "imports"
    __table_args__ = (Index("ix_imports_created", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))  # baryon.ImportMode
    status: Mapped[str] = mapped_column(String(16))  # baryon.ImportStatus
    status_message: Mapped[str | None] = mapped_column(Text)
    # Where the packed export is; both None for an import from the account alone.
    source_bucket: Mapped[str | None] = mapped_column(String(63))
    source_key: Mapped[str | None] = mapped_column(String(1024))
    include_account_stacks: Mapped[bool] = mapped_column(default=False, server_default=false())
    # What reading the export left out, shown with the plan.
    warnings: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_modified_at: Mapped[datetime] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ImportItemRow(Base):
    """One step of an import's plan: create, adopt, match, recover or skip one thing."""

    __tablename__ = "import_items"
    __table_args__ = (
        UniqueConstraint("import_id", "position", name="uq_import_items_position"),
        Index("ix_import_items_resource", "resource_type", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_id: Mapped[str] = mapped_column(ForeignKey("imports.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))  # baryon.ImportItemAction
    resource_type: Mapped[str] = mapped_column(String(40))  # baryon.ImportResourceType
    # A template's name, "service/instance", a pipeline's service, or a stack's name.
    name: Mapped[str] = mapped_column(String(256))
    template_version: Mapped[str | None] = mapped_column(String(41))  # "major.minor"
    stack_name: Mapped[str | None] = mapped_column(String(128))
    stack_id: Mapped[str | None] = mapped_column(String(1024))
    detail: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # baryon.ImportItemStatus
    message: Mapped[str | None] = mapped_column(Text)
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# --- environment account connections (issue 15) ---------------------------------------------


class EnvironmentAccountConnectionRow(Base):
    """A connection an environment account requested so that environments of the management
    account deploy into it, as its role (domain/environment_account_connections.py). A deleted
    connection is gone: an environment that named it stops deploying."""

    __tablename__ = "environment_account_connections"
    __table_args__ = (Index("ix_environment_account_connections_listing", "requested_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    arn: Mapped[str] = mapped_column(String(1024), unique=True)
    environment_account_id: Mapped[str] = mapped_column(String(12), index=True)
    management_account_id: Mapped[str] = mapped_column(String(12))
    environment_name: Mapped[str] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(16))  # proton.EnvironmentAccountConnectionStatus
    role_arn: Mapped[str | None] = mapped_column(String(2048))
    codebuild_role_arn: Mapped[str | None] = mapped_column(String(2048))
    component_role_arn: Mapped[str | None] = mapped_column(String(2048))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_modified_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ResourceCount(Base):
    """How many resources sit in one bucket of GetResourcesSummary, kept up to date by every
    flush that moves a resource between buckets (store/resource_counts.py), so the summary
    reads a few rows instead of the fleet. A bucket is a kind of resource, its template and
    deployed version, its service (only for SERVICE_PART, the parts a service is as stale as),
    and whether it failed; unused parts of the key are 0 so the key has no NULLs."""

    __tablename__ = "resource_counts"

    kind: Mapped[str] = mapped_column(String(24), primary_key=True)  # resource_counts.CountedKind
    template_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    service_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    major: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    minor: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    failed: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    resources: Mapped[int] = mapped_column(BigInteger)


# --- teams and roles (issue 16) ---------------------------------------------------------------


class Team(Base):
    """People and robots that share roles (auth/identities.py); OpenID Connect groups map to
    teams."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(1024), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    # Set from the groups claim by an OpenID Connect sign-in, which the next sign-in may take
    # away; a membership given by hand stays whatever the provider says.
    from_sign_in: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class UserRoleGrant(Base):
    """A role (auth.roles.BuiltinRole or a policy's own) given to one user or robot."""

    __tablename__ = "user_role_grants"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(64), primary_key=True)


class TeamRoleGrant(Base):
    """A role given to every member of a team."""

    __tablename__ = "team_role_grants"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(64), primary_key=True)


# --- the audit trail (issue 16) -------------------------------------------------------------


class AuditRecordRow(Base):
    """One call in a region's audit trail (store/audit_records.py): append-only, each record
    hashed with the one before it so that a changed, removed or inserted record shows."""

    __tablename__ = "audit_records"

    # The record's place in the chain, from 1, given under the chain head's lock: no gaps.
    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    principal: Mapped[str] = mapped_column(String(300), index=True)  # "user/alice"
    principal_kind: Mapped[str] = mapped_column(String(16))  # auth.principals.PrincipalKind
    door: Mapped[str] = mapped_column(String(16))  # baryon.AuditDoor
    service: Mapped[str] = mapped_column(String(16))  # "proton" | "baryon"
    operation: Mapped[str] = mapped_column(String(100), index=True)
    resources: Mapped[str] = mapped_column(Text)  # ARNs, one a line
    region: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(16), index=True)  # baryon.AuditResult
    error_code: Mapped[str | None] = mapped_column(String(100))
    spec_diff: Mapped[str | None] = mapped_column(Text)
    previous_hash: Mapped[str] = mapped_column(String(64))
    record_hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The chain's last record (one row, id 1): appenders lock it so the chain stays linear,
    and verification compares it with the last record, so records cut off the end show."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sequence: Mapped[int] = mapped_column(BigInteger)  # 0: no record yet
    record_hash: Mapped[str] = mapped_column(String(64))


# --- approvals and deletion protection (issue 16) ----------------------------------------------


class ApprovalRuleRow(Base):
    """A Cedar policy that says which deployments wait for approval (operations/approval_rules.py):
    kept apart from access policies, since a permit here holds a change instead of allowing it."""

    __tablename__ = "approval_rules"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(300))  # principal label
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ApprovalRow(Base):
    """A deployment held until someone other than its requester approves it (one per held
    deployment, keyed by it): domain/approval_gate.py holds, domain/approvals.py decides."""

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_listing", "status", "requested_at"),)

    deployment_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    target_arn: Mapped[str] = mapped_column(String(1024), index=True)
    status: Mapped[str] = mapped_column(String(16))  # domain.approval_gate.ApprovalStatus
    requested_by: Mapped[str] = mapped_column(String(300))  # principal label
    rules: Mapped[list] = mapped_column(JSON)  # names of the rules that asked for it
    reason: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(300))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    comment: Mapped[str | None] = mapped_column(Text)


class DeletionProtectionRow(Base):
    """An environment or service protected from deletion by hand (its tag protects it too:
    operations/deletion_protection.py)."""

    __tablename__ = "deletion_protections"

    resource_arn: Mapped[str] = mapped_column(String(1024), primary_key=True)
    set_by: Mapped[str] = mapped_column(String(300))  # principal label
    set_at: Mapped[datetime] = mapped_column(UtcDateTime)


# --- access policies (issue 16) -------------------------------------------------------------


class PolicyRow(Base):
    """A Cedar access policy (auth/policies/stored.py): one a team or user was given, or an
    edited built-in role policy (builtin: its name is a role's, ``baryon policy reset`` puts
    the shipped text back). An unedited built-in has no row: it is the shipped text."""

    __tablename__ = "policies"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_by: Mapped[str] = mapped_column(String(300))  # principal label
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PolicyGeneration(Base):
    """How many times the policies have changed (one row, id 1): every replica reads it per
    decision and recompiles its cached policy set when it moved."""

    __tablename__ = "policy_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger)


# --- rollouts (issue 18, R1) -------------------------------------------------------------------


class RolloutRow(Base):
    """A staged move of selected resources to one template version (domain/rollouts.py).
    Immutable once approved: only its state and clocks change; a changed plan is a new rollout
    that supersedes this one."""

    __tablename__ = "rollouts"
    __table_args__ = (Index("ix_rollouts_listing", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    template_kind: Mapped[str] = mapped_column(String(16))  # domain.templates.TemplateKind
    template_name: Mapped[str] = mapped_column(String(100), index=True)
    target_major: Mapped[int] = mapped_column(Integer)
    target_minor: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)  # domain.rollouts.RolloutState
    state_message: Mapped[str | None] = mapped_column(Text)
    # How it was asked for (domain.rollouts.RolloutPlan, as JSON): the targets are kept apart.
    plan: Mapped[dict] = mapped_column(JSON)
    # What the fleet looked like when previewed: approval is refused once it moved.
    preview_hash: Mapped[str | None] = mapped_column(String(64))
    preview_id: Mapped[str | None] = mapped_column(String(64))  # a fleet preview (issue 18, R2)
    current_wave: Mapped[int] = mapped_column(Integer, default=0)
    # While ROLLING_BACK: WAVE (the current wave, then HALTED) or ALL (every wave, newest first).
    rollback_scope: Mapped[str | None] = mapped_column(String(8))
    supersedes: Mapped[str | None] = mapped_column(String(36))
    superseded_by: Mapped[str | None] = mapped_column(String(36))
    created_by: Mapped[str] = mapped_column(String(300))  # principal label
    approved_by: Mapped[str | None] = mapped_column(String(300))
    # The approval rules that would hold a move of its resources as its creator meets them,
    # and why (domain/rollouts.py): then someone else approves it. None: no rule would.
    approval_rules: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    approval_reason: Mapped[str | None] = mapped_column(Text)
    # A rollback a person asked for (domain/rollouts.py): who, and how long a rollback
    # deployment the rules hold waits for approval. None while the engine rolls back on its own.
    rollback_requested_by: Mapped[str | None] = mapped_column(String(300))
    rollback_approval_hours: Mapped[float | None] = mapped_column()
    # When its current pause began (None: not paused): its deadlines move by the pause.
    paused_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_modified_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RolloutWaveRow(Base):
    """One wave of a rollout. Its bake clock runs only while the rollout runs: ``baked_seconds``
    holds what has elapsed before the clock last stopped, ``clock_started_at`` when it last
    started (None while stopped)."""

    __tablename__ = "rollout_waves"
    __table_args__ = (UniqueConstraint("rollout_id", "number", name="uq_rollout_waves_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rollout_id: Mapped[str] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)  # 1 is the canary
    state: Mapped[str] = mapped_column(String(16))  # domain.rollouts.WaveState
    bake_seconds: Mapped[int] = mapped_column(Integer)
    baked_seconds: Mapped[float] = mapped_column(default=0.0)
    clock_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # A person approves the wave before it starts (the rollout pauses for it until then).
    requires_approval: Mapped[bool] = mapped_column(default=False, server_default=false())
    approved_by: Mapped[str | None] = mapped_column(String(300))
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The approval rules that would hold a move of its resources (None: none would).
    approval_rules: Mapped[list | None] = mapped_column(JSON(none_as_null=True))


class RolloutTargetRow(Base):
    """One resource a rollout moves: where it was, which wave, and the deployments the
    rollout started on it (forward, and back when its wave is rolled back)."""

    __tablename__ = "rollout_targets"
    __table_args__ = (
        UniqueConstraint("rollout_id", "resource_arn", name="uq_rollout_targets_resource"),
        Index("ix_rollout_targets_wave", "rollout_id", "wave", "position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rollout_id: Mapped[str] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"))
    wave: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)  # order inside the wave
    resource_arn: Mapped[str] = mapped_column(String(1024), index=True)
    resource_kind: Mapped[str] = mapped_column(String(32))  # DeploymentTargetResourceType
    environment_name: Mapped[str] = mapped_column(String(100))
    service_name: Mapped[str | None] = mapped_column(String(100))
    instance_name: Mapped[str | None] = mapped_column(String(100))
    from_major: Mapped[int] = mapped_column(Integer)
    from_minor: Mapped[int] = mapped_column(Integer)
    # The resource's last deployment when the rollout started: another one since means a
    # person changed it, and the rollout leaves it alone.
    baseline_deployment_id: Mapped[str | None] = mapped_column(String(36))
    state: Mapped[str] = mapped_column(String(16))  # domain.rollouts.TargetState
    reason: Mapped[str | None] = mapped_column(Text)
    deployment_id: Mapped[str | None] = mapped_column(String(36), index=True)
    rollback_deployment_id: Mapped[str | None] = mapped_column(String(36), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # forward deployments started
    # Its deployment ran past the rollout's target deadline: a failure for the tolerance,
    # whatever it ends as, until a person resumes the halted wave.
    past_deadline: Mapped[bool] = mapped_column(default=False, server_default=false())
    # When its forward deployment runs past the target deadline, moved later by every pause of
    # the rollout since it started (None: no deadline, or started before migration 0030).
    deadline_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The approval rules that would hold its move, as the rollout's creator meets them.
    approval_rules: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    # The approval rules that hold its rollback, as the person who asked for it meets them:
    # its rollback deployment then waits for someone else's approval.
    rollback_approval_rules: Mapped[list | None] = mapped_column(JSON(none_as_null=True))


class RolloutGateRow(Base):
    """One gate check after a wave: its verdict and what it was based on."""

    __tablename__ = "rollout_gates"
    __table_args__ = (Index("ix_rollout_gates_rollout", "rollout_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rollout_id: Mapped[str] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"))
    wave: Mapped[int] = mapped_column(Integer)
    gate: Mapped[str] = mapped_column(String(32))  # domain.rollouts.GateKind
    verdict: Mapped[str] = mapped_column(String(16))  # domain.rollouts.GateVerdict
    evidence: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class RolloutEventRow(Base):
    """The rollout's story: every transition, who or what caused it and why."""

    __tablename__ = "rollout_events"
    __table_args__ = (Index("ix_rollout_events_rollout", "rollout_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rollout_id: Mapped[str] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(300))  # principal label, or "rollout engine"
    message: Mapped[str] = mapped_column(Text)


# --- fleet previews (issue 18) --------------------------------------------------------------


class FleetPreviewRow(Base):
    """A preview of a change to many resources (domain/fleet_previews.py): its items hold,
    per resource, the rendered difference and the engine's own kept preview."""

    __tablename__ = "fleet_previews"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # domain.fleet_previews.PreviewStatus
    description: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(300))  # principal label
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    approved_by: Mapped[str | None] = mapped_column(String(300))
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class FleetPreviewItemRow(Base):
    """One resource of a fleet preview: the change it previews, what the change would do
    (rendered diff, change set or saved plan, risk flags) and the basis it was planned on."""

    __tablename__ = "fleet_preview_items"
    __table_args__ = (Index("ix_fleet_preview_items_listing", "preview_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    preview_id: Mapped[str] = mapped_column(ForeignKey("fleet_previews.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    resource_kind: Mapped[str] = mapped_column(String(16))  # environment | instance | pipeline
    resource_name: Mapped[str] = mapped_column(String(100))
    service_name: Mapped[str | None] = mapped_column(String(100))
    target_arn: Mapped[str] = mapped_column(String(1024))
    status: Mapped[str] = mapped_column(String(16))  # domain.fleet_previews.ItemStatus
    problem: Mapped[str | None] = mapped_column(Text)
    # The change: the target version and spec, with the inputs its schema resolves.
    template_version_id: Mapped[int | None] = mapped_column(Integer)
    target_major: Mapped[int | None] = mapped_column(Integer)
    target_minor: Mapped[int | None] = mapped_column(Integer)
    spec: Mapped[str | None] = mapped_column(Text)
    inputs: Mapped[dict | None] = mapped_column(JSON)
    # What the resource was when planned (version, spec, last deployment): a change of it
    # makes the preview stale.
    basis: Mapped[str] = mapped_column(String(64))
    diff: Mapped[list | None] = mapped_column(JSON)  # rendered files that change, with diffs
    engine: Mapped[str | None] = mapped_column(String(16))
    change_set_id: Mapped[str | None] = mapped_column(String(1024))
    resource_changes: Mapped[list | None] = mapped_column(JSON)
    # Terraform: the saved plan file, encrypted like state (it holds every variable's value).
    plan_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    risks: Mapped[list | None] = mapped_column(JSON)  # domain.fleet_previews.Risk values
    signature: Mapped[str | None] = mapped_column(String(64), index=True)
    deployment_id: Mapped[str | None] = mapped_column(String(36))  # started by the approval


# --- drift (issue 18) -----------------------------------------------------------------------


class DriftCheckRow(Base):
    """One drift check of a deployed resource (domain/drift.py): asked for by someone or by
    the schedule, run by a worker with the engine's own detection (CloudFormation's drift
    detection, a Terraform refresh-only plan)."""

    __tablename__ = "drift_checks"
    __table_args__ = (Index("ix_drift_checks_resource", "resource_arn", "requested_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    resource_arn: Mapped[str] = mapped_column(String(1024))
    resource_kind: Mapped[str] = mapped_column(String(16))  # environment | instance | pipeline
    resource_name: Mapped[str] = mapped_column(String(100))
    service_name: Mapped[str | None] = mapped_column(String(100))
    template_name: Mapped[str] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(16))  # domain.drift.CheckStatus
    status_message: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str | None] = mapped_column(String(32))  # domain.drift.CheckMethod
    # Coverage: engine resources compared, and those the engine could not check.
    resources_checked: Mapped[int] = mapped_column(Integer, default=0)
    resources_not_checked: Mapped[int] = mapped_column(Integer, default=0)
    drifted_items: Mapped[int] = mapped_column(Integer, default=0)
    requested_by: Mapped[str] = mapped_column(String(300))  # principal label, or the schedule
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class DriftItemRow(Base):
    """One property (or resource) found different from what the last deployment made, and the
    decision taken on it. ``open_fingerprint`` equals ``fingerprint`` until the item closes and
    is unique: at most one unclosed item per fingerprint."""

    __tablename__ = "drift_items"
    __table_args__ = (Index("ix_drift_items_resource", "resource_arn", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    resource_arn: Mapped[str] = mapped_column(String(1024))
    template_name: Mapped[str] = mapped_column(String(100), index=True)
    check_id: Mapped[str] = mapped_column(String(36))  # the last check that saw it
    logical_id: Mapped[str] = mapped_column(String(256))
    resource_type: Mapped[str] = mapped_column(String(256))
    physical_id: Mapped[str | None] = mapped_column(String(2048))
    path: Mapped[str] = mapped_column(String(1024))
    expected: Mapped[str | None] = mapped_column(Text)
    actual: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))  # domain.drift.DriftKind
    binding: Mapped[str] = mapped_column(String(16))  # domain.drift.Binding
    input_name: Mapped[str | None] = mapped_column(String(200))  # the input it comes from
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    open_fingerprint: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # domain.drift.ItemStatus
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(300))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    ignore_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    deployment_id: Mapped[str | None] = mapped_column(String(36))  # a decision's deployment
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# Registers the flush hooks that keep resource_counts in step with the rows it counts.
from baryon.store import resource_counts as _resource_counts  # noqa: E402, F401
