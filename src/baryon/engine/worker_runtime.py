"""What workers need of the process they run in.

The composition root's ``Runtime`` satisfies this structurally; the engine names only these
pieces so that it does not import the root (and, through it, the front doors).
"""

from __future__ import annotations

import threading
from typing import Protocol

from baryon.domain.approval_gate import ApprovalPolicy
from baryon.domain.arns import Arns
from baryon.git.access import RepositoryFinder
from baryon.provisioners.selection import ProvisionerParts
from baryon.settings import Settings
from baryon.store.database import Database


class WorkerRuntime(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    @property
    def arns(self) -> Arns: ...

    # Set when a job is enqueued or a deployment ends, so idle workers claim at once.
    @property
    def job_wakeup(self) -> threading.Event: ...

    # The runner and what program-running provisioners borrow from the store.
    @property
    def provisioner_parts(self) -> ProvisionerParts: ...

    # How registered repositories are reached (template and service sync, pull requests).
    @property
    def git_access(self) -> RepositoryFinder: ...

    # The approval rules for deployments a job starts on Baryon's own behalf (service sync):
    # the application layer decides, as it does for a request (domain/approval_gate.py).
    @property
    def system_approvals(self) -> ApprovalPolicy: ...
