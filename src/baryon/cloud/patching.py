"""How the local cloud changes moto, in its own process only: each patch installs once.

Patches wrap the methods they find; installed twice, a patch would wrap itself. The cloud
serves requests on threads and builds each service's app on first use, so two requests may
ask for the same patch at the same moment.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable


def installs_once(install: Callable[[], None]) -> Callable[[], None]:
    """``install`` runs on the first call only; later and concurrent calls return once it has."""
    lock = threading.RLock()  # re-entrant: one patch's install may install another
    done: list[bool] = []

    @functools.wraps(install)
    def once() -> None:
        with lock:
            if not done:
                install()
                done.append(True)

    return once
