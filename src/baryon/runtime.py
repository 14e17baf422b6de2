"""The long-lived objects a Baryon process shares between requests and jobs."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from baryon.api.request_body import BodyBudget
from baryon.auth.master_key import SecretBox, load_master_key, load_previous_keys
from baryon.auth.scoped_keys import ScopedKeys
from baryon.domain.approval_gate import ApprovalPolicy
from baryon.domain.arns import Arns
from baryon.modes import regions
from baryon.provisioners.selection import ProvisionerParts
from baryon.provisioners.terraform import TerraformStateAccess
from baryon.runner import Runner
from baryon.settings import Settings
from baryon.store.applied_sections import AppliedSections
from baryon.store.database import Database
from baryon.store.page_tokens import PageTokens

if TYPE_CHECKING:
    from baryon.cloud.upload_urls import BundleUrlSigner
    from baryon.operations.git_access import GitAccess


@dataclass
class Runtime:
    """One region's cell: its settings (region, cloud), database and ARNs.

    ``cells`` reaches every region this process serves; the home region's runtime is the
    one front doors are handed (modes/regions.py says how regions are configured).
    """

    settings: Settings
    db: Database
    box: SecretBox
    page_tokens: PageTokens
    arns: Arns
    # The home region's database, where what is global lives as IAM's does (access keys,
    # portal users and sessions); None in the home region's own runtime, whose db it is.
    home_db: Database | None = None
    # Set when a job is enqueued so that in-process workers start at once instead of polling.
    job_wakeup: threading.Event = field(default_factory=threading.Event)
    # Request bodies buffered at once by this process's API and portal (api/request_body.py).
    body_budget: BodyBudget = field(init=False)
    # Every region's runtime, this one included (build_runtime wires them).
    cells: Cells = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.body_budget = BodyBudget(self.settings.request_body_buffer_bytes)
        self.cells = Cells((self,))

    @property
    def region(self) -> str:
        return self.settings.region

    @property
    def identity_db(self) -> Database:
        """Where access keys, portal users and sessions are, whatever region is asked."""
        return self.home_db or self.db

    @functools.cached_property
    def provisioner_parts(self) -> ProvisionerParts:
        """Built when a worker first needs it: an API-only process never picks a sandbox."""
        return ProvisionerParts(
            runner=Runner(self.settings),
            # Programs' keys are checked by the front door, which reads keys from the home
            # region whatever region a request is signed for.
            keys=ScopedKeys(self.identity_db, self.box),
            applied_sections=lambda engine: AppliedSections(self.db, engine),
            terraform_states=_terraform_states(self.db, self.box),
        )

    @functools.cached_property
    def git_access(self) -> GitAccess:
        """How repositories are reached (operations/git_access.py), built on first use."""
        from baryon.operations.git_access import GitAccess

        return GitAccess(self)

    @functools.cached_property
    def system_approvals(self) -> ApprovalPolicy:
        """The approval rules for deployments a job starts on its own (service sync)."""
        from baryon.operations.approval_rules import system_policy

        return system_policy(self.settings, self.arns)

    @functools.cached_property
    def bundle_url_signer(self) -> BundleUrlSigner:
        """Presigns uploads to the bundle bucket with this cell's cloud credentials
        (operations/bundle_uploads.py), so that callers need only a Baryon key."""
        from baryon.cloud.upload_urls import BundleUrlSigner

        return BundleUrlSigner(self.settings)

    def close(self) -> None:
        """Closes every region's database: the home runtime's close is the process's."""
        for cell in self.cells:
            cell.db.dispose()


class Cells:
    """The regions one Baryon serves, each a Runtime of its own, the home region's first."""

    def __init__(self, runtimes: Sequence[Runtime]) -> None:
        self._by_region = {runtime.region: runtime for runtime in runtimes}
        self.home = runtimes[0]

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(self._by_region)

    def get(self, region: str | None) -> Runtime | None:
        return self._by_region.get(region) if region else None

    def __iter__(self) -> Iterator[Runtime]:
        return iter(self._by_region.values())

    def __len__(self) -> int:
        return len(self._by_region)


def _terraform_states(db: Database, box: SecretBox) -> TerraformStateAccess:
    # Imported here: importing operations/ registers every handler, and they import this
    # module (operations/context.py), which must be complete first.
    from baryon.operations.terraform_state import TerraformStates

    return TerraformStates(db, box)


def build_runtime(settings: Settings, *, migrate: bool = True) -> Runtime:
    """The home region's runtime, with a cell for every region the settings serve."""
    master_key = load_master_key(settings)
    box = SecretBox(master_key, load_previous_keys(settings))
    page_tokens = PageTokens(master_key)
    runtimes: list[Runtime] = []
    for cell in regions.cells(settings):
        db = Database(cell.settings.sqlalchemy_url)
        if migrate:
            if cell.schema is not None:
                db.create_schema(cell.schema)
            db.migrate()
        runtimes.append(
            Runtime(
                settings=cell.settings,
                db=db,
                box=box,
                page_tokens=page_tokens,
                arns=Arns(cell.region, settings.account_id),
                home_db=runtimes[0].db if runtimes else None,
            )
        )
    everything = Cells(runtimes)
    for runtime in runtimes:
        runtime.cells = everything
    return everything.home
