"""The one settings object (ARCHITECTURE rule 8).

Defaults give the embedded mode. A TOML config file and then ``BARYON_*`` environment
variables override them, and command-line flags override both. This is the only module that
reads the process environment for configuration.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from baryon.bundles.limits import BundleLimits

ENV_PREFIX = "BARYON_"


def _default_data_dir() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "baryon"


@dataclass(frozen=True)
class Settings:
    # Where embedded mode keeps its SQLite database, master key, env file and work files.
    data_dir: Path = field(default_factory=_default_data_dir)
    # SQLAlchemy URL; empty means SQLite in data_dir.
    database_url: str = ""
    # Where the API and the portal listen (baryon up, baryon server).
    host: str = "127.0.0.1"
    port: int = 8300
    # `baryon server` processes answering on that port (one Python process uses one core at
    # most): each has its own database connections; 1 = this process alone.
    server_processes: int = 1
    # Load balancers allowed to tell servers the client's scheme and address
    # (X-Forwarded-Proto/For), comma-separated addresses or networks, e.g. so that portal
    # cookies are Secure behind TLS termination and sign-in throttling sees real clients.
    # None by default: a forwarded address from anyone else is a claim, not a fact.
    forwarded_allow_ips: str = ""

    # Identity of this Baryon "account": it appears in every ARN.
    region: str = "us-east-1"
    account_id: str = "123456789012"
    # Every region this Baryon serves, comma-separated (e.g. "us-east-1,us-west-2"); empty =
    # region alone. region is the home region and always served: it keeps what is global, as
    # IAM is (access keys, portal users and sessions); each region has its own database (a
    # file under data_dir/regions with SQLite, a schema with PostgreSQL) and its own ARNs.
    regions: str = ""
    # A region's own cloud endpoint where it is not cloud_endpoint's, comma-separated
    # region=url pairs (e.g. "eu-west-1=https://cloud.example:4566"); most need none.
    region_cloud_endpoints: str = ""

    # The cloud Baryon provisions into and reads bundles from. Empty endpoint = real AWS.
    cloud_endpoint: str = ""
    cloud_access_key_id: str = ""
    cloud_secret_access_key: str = ""
    # Bucket that `baryon template publish` uploads bundles to; empty = derived from account.
    bundle_bucket: str = ""
    # Embedded mode starts a local cloud on this loopback port (0 = any free port).
    local_cloud_port: int = 0
    # How long the local cloud's stack operations stay *_IN_PROGRESS, as on AWS, so that
    # deployments can be watched and cancelled mid-flight (0 = moto's instant behaviour).
    local_cloud_stack_seconds: float = 1.0

    # Key that encrypts access-key secrets at rest; empty = read/create data_dir/master.key.
    master_key: str = ""
    # During a master key rotation (auth/key_rotation.py): the key master_key replaces.
    # Values sealed with it still open; every new value is sealed with master_key.
    master_key_previous: str = ""
    # SigV4 clock skew AWS tolerates.
    max_clock_skew_seconds: int = 900

    # Slow clients (api/request_body.py, modes/http_server.py). A connection must deliver a
    # complete request head (request line and headers, a few KiB) this soon after it opens or
    # after its first byte: any working client needs milliseconds, a stalled one holds a socket.
    # A client answered before its body (refused from its headers) has as long to finish it.
    request_header_timeout_seconds: float = 10.0
    # A request body may pause this many seconds at most, and must keep up an average of
    # request_body_min_bytes_per_second after its first such period, so a slow but steady
    # link (2 MiB at 16 KiB/s takes ~2 min) is served while a stalled or trickling upload is
    # cut off and answered RequestTimeoutException (which SDKs retry).
    request_body_timeout_seconds: float = 20.0
    request_body_min_bytes_per_second: int = 16 * 1024
    # Request bodies held in memory at once across all connections of this process. A request
    # is authenticated (as far as it can be before its body) before it gets any of this; when
    # it is used up, uploads wait a moment and are then answered ThrottlingException (retried
    # by SDKs) instead of growing the process: 8 bodies of the 2 MiB maximum, hundreds of
    # 50 KiB specs, or thousands of the few-KiB bodies most calls send.
    request_body_buffer_bytes: int = 16 * 1024 * 1024

    # Quotas (Proton's defaults).
    max_templates: int = 100
    max_versions_per_template: int = 500

    # Bundle limits: loose enough for AWS's own CodeBuild samples.
    bundle_max_archive_bytes: int = 10 * 1024 * 1024
    bundle_max_total_bytes: int = 50 * 1024 * 1024
    bundle_max_file_bytes: int = 5 * 1024 * 1024
    bundle_max_files: int = 1000

    # The longest a provisioner waits for one stack operation before failing the deployment.
    deployment_timeout_seconds: float = 3600.0
    # A provisioner's first look at a stack operation; later polls back off to 15 s.
    deployment_poll_seconds: float = 1.0

    # Workers.
    worker_threads: int = 2
    job_lease_seconds: int = 60
    job_poll_seconds: float = 0.5
    job_max_attempts: int = 5

    # After SIGTERM a worker lets running jobs finish this long, then releases their leases
    # so that another worker resumes them at once.
    worker_stop_grace_seconds: float = 20.0
    # A pause between the items an import from Proton applies (engine/imports.py): paces a
    # large import on a busy database; tests use it to stop an import half-way.
    import_item_pause_seconds: float = 0.0
    # How often a running rollout looks at its deployments, gates and bake clock
    # (engine/rollouts.py): each look is one short transaction, so this bounds how soon a
    # wave moves on after its last deployment ends.
    rollout_tick_seconds: float = 2.0
    # How often the rollout sweep (engine/rollouts.py) queues a look for any rollout that needs
    # one and has none coming (a look lost or deleted): the longest such a rollout sits idle.
    rollout_sweep_seconds: float = 30.0
    # How long a fleet preview may be approved after it was planned (domain/fleet_previews.py):
    # older, it is stale and must be previewed again, as the fleet may have moved.
    fleet_preview_ttl_hours: float = 24.0

    # The runner (runner/): how provisioning programs (Terraform, CodeBuild commands) run.
    # "auto" (bubblewrap when `bwrap` works on this machine, else a plain child process),
    # "bubblewrap", "container" (runner_container_runtime runs the manifest's image) or
    # "none" (a plain child process; the deployment log says so).
    runner_sandbox: str = "auto"
    # "podman" or "docker", found on runner_path, for runner_sandbox = "container".
    runner_container_runtime: str = "podman"
    # How long a run may take when its caller names no deadline.
    runner_time_limit_seconds: float = 3600.0
    # Output (stdout and stderr together) a run may write before it is stopped.
    runner_output_limit_bytes: int = 10 * 1024 * 1024
    # Processes (threads count too) a run may have at once, so a fork bomb hits a wall.
    runner_max_processes: int = 256
    # Address space of each process of a run (RLIMIT_AS); 0 = no limit.
    runner_memory_limit_bytes: int = 0
    # After SIGTERM (cancel, time or output limit) a run has this long before SIGKILL.
    runner_kill_grace_seconds: float = 10.0
    # The PATH programs see (bubblewrap shows them each of its directories, read-only);
    # the worker's own PATH by default.
    runner_path: str = field(default_factory=lambda: os.environ.get("PATH", "/usr/bin:/bin"))
    # Where work directories are made; empty = the system's temporary directory, which the
    # program's user can reach even when data_dir is private.
    runner_work_root: str = ""
    # Whom programs run as when the worker runs as root: the kernel enforces no process
    # limit on root, and a program has no business with root's files. Unused otherwise.
    runner_user: str = "nobody"

    # Terraform run by Baryon (provisioners/terraform.py). The binary (`terraform` or `tofu`),
    # looked up on runner_path unless a path; Baryon never downloads or ships one.
    terraform_binary: str = "terraform"
    # Root of the provider plugin caches, one per resource (a run executes bundle code, so a
    # cache shared by all could let one resource plant a provider for the others); empty =
    # baryon-terraform-plugins in the runner's work root (the sandbox hides data_dir).
    terraform_plugin_cache_dir: str = ""
    # A filesystem provider mirror (`terraform providers mirror` output) that runs install
    # providers from instead of the registry, for sites without a network; empty = none.
    terraform_provider_mirror: str = ""
    # How long a run waits for another live deployment's state lock before it fails.
    terraform_lock_timeout_seconds: int = 60

    # Programs Baryon runs (CodeBuild commands, Terraform) call Baryon back here: their
    # AWS_ENDPOINT_URL_PROTON and Terraform's state backend. Empty = this process's own
    # http://<host>:<port> (loopback when it listens on every address); embedded mode fills
    # it in once it knows its port. Set it when workers reach the API another way (scaled
    # mode: the load balancer's URL).
    program_api_endpoint: str = ""
    # What a program's AWS default profile holds (provisioners/codebuild.py): "cloud" (the
    # target cloud's keys; the program's Proton calls name --profile proton) or "proton" (the
    # run's scoped key, so AWS's samples run unchanged; only for a cloud that accepts any
    # key). Empty = "cloud", except in embedded mode, whose local cloud accepts any key.
    program_default_credentials: str = ""

    # Where CodeBuild bundles run: "baryon" (its runner, on a worker) or "aws" (a project of
    # AWS CodeBuild in the resource's account, as Proton ran them; provisioners/codebuild_aws.py).
    codebuild_runs_on: str = "baryon"
    # The bucket in the resource's account that AWS CodeBuild reads a run's files from;
    # empty = baryon-codebuild-<account>-<region> (made when missing).
    codebuild_source_bucket: str = ""
    # How often a run on AWS CodeBuild is polled at first (backing off to 30 s).
    codebuild_poll_seconds: float = 5.0

    # Git (git/). Serve repositories over smart HTTP at /git on the API's port, kept in
    # data_dir/git (git_hosting_dir): on for `baryon up`; `baryon server` replicas turn it off,
    # since each would keep repositories on its own disk.
    git_hosting: bool = True
    # Where remote repositories are mirrored (one bare repository per URL); empty =
    # data_dir/git-cache. Read it as the git_cache_dir property.
    git_cache_path: str = ""
    # Whether plain git connections may name repositories on this machine's disk (a path or
    # file:// URL): "allow" or "refuse". Allowed, anyone who may create a connection can read
    # any repository the server's user can. Empty = allow in embedded mode (one person's
    # machine), refuse in scaled mode.
    git_local_remotes: str = ""

    # Approvals (issue 16). How long a deployment held for approval waits before it ends
    # CANCELLED as expired (domain/approvals.py); fractions of an hour are allowed.
    approval_expiry_hours: float = 24.0
    # Environments and services carrying this tag cannot be deleted, as if protected by hand
    # (operations/deletion_protection.py): "key=value", or "key" for any value.
    deletion_protection_tag: str = "baryon:deletion-protection=true"

    # Which team owns a resource: the value of its tag with this key (an instance without one
    # takes its service's; a pipeline is its service's). The portal's lists filter and show
    # it; policies can match the same tag (Cedar: resource.tags).
    team_tag_key: str = "team"

    # Drift (issue 18; docs/drift.md). How often each deployed resource is checked for drift
    # on a schedule, in seconds (a check is skipped while a deployment is in flight on the
    # resource); 0 = only on demand (StartDriftCheck, baryon drift check).
    drift_check_interval: int = 0
    # How long one check may wait for the engine's detection (DetectStackDrift, a Terraform
    # refresh-only plan) before it ends FAILED.
    drift_check_timeout_seconds: int = 600

    # Portal sign-in with OpenID Connect (issue 16; docs/users-and-sign-in.md). The provider's
    # issuer URL (its /.well-known/openid-configuration is read from it); empty = local users
    # only. The redirect URI to register: <public_url or the portal's address>/portal/oidc/callback.
    oidc_issuer: str = ""
    # The client Baryon is registered as at the provider, and its secret.
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    # Scopes asked for, space-separated; the provider must put the groups claim in the ID token.
    oidc_scopes: str = "openid profile email groups"
    # The ID token claim that lists the user's groups.
    oidc_groups_claim: str = "groups"
    # Groups mapped to Baryon teams, comma-separated group=team pairs (e.g.
    # "platform-engineers=platform,devs=payments"); a group not listed that is the name of an
    # existing team joins that team; other groups are ignored.
    oidc_team_map: str = ""
    # The sign-in button's words: "Sign in with <this>"; empty = the issuer's host name.
    oidc_display_name: str = ""
    # Hide the user name and password form when OpenID Connect is configured (local users can
    # still be made, for break-glass access with this turned off).
    oidc_only: bool = False

    # Git (issue 13). The address git providers reach Baryon at, for the webhook URLs that
    # connections show; empty = Baryon shows the path only and the providers are polled.
    public_url: str = ""
    # How often watched branches without webhooks (plain git, Baryon's own server in scaled
    # mode) and open pull requests are polled.
    git_poll_seconds: float = 30.0
    # A self-managed deployment whose pull request is neither merged nor closed in this long
    # ends FAILED (Proton: "the creation is incomplete"); merged, it waits as long again for
    # the customer's CI to report.
    pull_request_timeout_seconds: int = 7 * 24 * 3600

    # Python's level for Baryon's logs (on standard error): DEBUG, INFO, WARNING or ERROR.
    log_level: str = "INFO"
    # "text" for a terminal, "json" for log collectors (one object per line, with ids).
    log_format: str = "text"

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'baryon.db'}"

    @property
    def resolved_bundle_bucket(self) -> str:
        return self.bundle_bucket or f"baryon-bundles-{self.account_id}"

    @property
    def bundle_limits(self) -> BundleLimits:
        return BundleLimits(
            max_archive_bytes=self.bundle_max_archive_bytes,
            max_total_bytes=self.bundle_max_total_bytes,
            max_file_bytes=self.bundle_max_file_bytes,
            max_files=self.bundle_max_files,
        )

    @property
    def work_dir(self) -> Path:
        """Private scratch space for untrusted archives; never shared with other users."""
        return self.data_dir / "work"

    @property
    def resolved_terraform_plugin_cache_dir(self) -> Path:
        if self.terraform_plugin_cache_dir:
            return Path(self.terraform_plugin_cache_dir).expanduser()
        work_root = Path(self.runner_work_root or tempfile.gettempdir())
        return work_root / "baryon-terraform-plugins"

    @property
    def resolved_program_api_endpoint(self) -> str:
        if self.program_api_endpoint:
            return self.program_api_endpoint.rstrip("/")
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    @property
    def master_key_file(self) -> Path:
        return self.data_dir / "master.key"

    @property
    def git_hosting_dir(self) -> Path:
        """Repositories Baryon serves (git/hosting.py): <owner>/<name>.git below it."""
        return self.data_dir / "git"

    @property
    def git_cache_dir(self) -> Path:
        if self.git_cache_path:
            return Path(self.git_cache_path).expanduser()
        return self.data_dir / "git-cache"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _coerce(name: str, kind: Any, raw: Any) -> Any:
    if kind is bool:
        return _coerce_bool(name, raw)
    if isinstance(raw, str):
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is Path:
            return Path(raw).expanduser()
        return raw
    if kind is Path:
        return Path(raw).expanduser()
    if kind in (int, float) and isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return kind(raw)
    if kind is str and isinstance(raw, str):
        return raw
    raise ValueError(f"setting {name!r}: expected {kind.__name__}, got {raw!r}")


def _coerce_bool(name: str, raw: Any) -> bool:
    # BARYON_GIT_HOSTING=false must not be a truthy string.
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower() if isinstance(raw, str) else None
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"setting {name!r}: expected true or false, got {raw!r}")


def load_settings(
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Build Settings from defaults, a TOML file, BARYON_* variables and explicit overrides.

    The config file is ``BARYON_CONFIG`` if set, else ``<data_dir>/baryon.toml`` if it exists.
    """
    env = dict(os.environ if environ is None else environ)
    hints = get_type_hints(Settings)
    known = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}

    for name in known:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _coerce(name, hints[name], raw)
    for name, raw in (overrides or {}).items():
        if raw is not None:
            values[name] = _coerce(name, hints[name], raw)

    path = config_file or (Path(env["BARYON_CONFIG"]) if env.get("BARYON_CONFIG") else None)
    if path is None:
        data_dir = values.get("data_dir") or _default_data_dir()
        candidate = Path(data_dir) / "baryon.toml"
        path = candidate if candidate.exists() else None
    file_values: dict[str, Any] = {}
    if path is not None:
        with open(path, "rb") as handle:
            for name, raw in tomllib.load(handle).items():
                if name not in known:
                    raise ValueError(f"{path}: unknown setting {name!r}")
                file_values[name] = _coerce(name, hints[name], raw)
    return Settings(**{**file_values, **values})
