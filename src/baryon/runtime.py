"""The long-lived objects a Baryon process shares between requests and jobs."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from baryon.api.request_body import BodyBudget
from baryon.auth.master_key import SecretBox, load_master_key
from baryon.auth.scoped_keys import ScopedKeys
from baryon.domain.arns import Arns
from baryon.provisioners.selection import ProvisionerParts
from baryon.provisioners.terraform import TerraformStateAccess
from baryon.runner import Runner
from baryon.settings import Settings
from baryon.store.applied_sections import AppliedSections
from baryon.store.database import Database
from baryon.store.page_tokens import PageTokens

if TYPE_CHECKING:
    from baryon.operations.git_access import GitAccess


@dataclass
class Runtime:
    settings: Settings
    db: Database
    box: SecretBox
    page_tokens: PageTokens
    arns: Arns
    # Set when a job is enqueued so that in-process workers start at once instead of polling.
    job_wakeup: threading.Event = field(default_factory=threading.Event)
    # Request bodies buffered at once by this process's API and portal (api/request_body.py).
    body_budget: BodyBudget = field(init=False)

    def __post_init__(self) -> None:
        self.body_budget = BodyBudget(self.settings.request_body_buffer_bytes)

    @functools.cached_property
    def provisioner_parts(self) -> ProvisionerParts:
        """Built when a worker first needs it: an API-only process never picks a sandbox."""
        return ProvisionerParts(
            runner=Runner(self.settings),
            keys=ScopedKeys(self.db, self.box),
            applied_sections=lambda engine: AppliedSections(self.db, engine),
            terraform_states=_terraform_states(self.db, self.box),
        )

    @functools.cached_property
    def git_access(self) -> GitAccess:
        """How repositories are reached (operations/git_access.py), built on first use."""
        from baryon.operations.git_access import GitAccess

        return GitAccess(self)

    def close(self) -> None:
        self.db.dispose()


def _terraform_states(db: Database, box: SecretBox) -> TerraformStateAccess:
    # Imported here: importing operations/ registers every handler, and they import this
    # module (operations/context.py), which must be complete first.
    from baryon.operations.terraform_state import TerraformStates

    return TerraformStates(db, box)


def build_runtime(settings: Settings, *, migrate: bool = True) -> Runtime:
    master_key = load_master_key(settings)
    db = Database(settings.sqlalchemy_url)
    if migrate:
        db.migrate()
    return Runtime(
        settings=settings,
        db=db,
        box=SecretBox(master_key),
        page_tokens=PageTokens(master_key),
        arns=Arns(settings.region, settings.account_id),
    )
