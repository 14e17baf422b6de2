"""What a create does when its name is taken by what an identical earlier request made.

Proton's API answers an identical retry with the resource that exists, so that a client may
repeat a create whose answer it lost. A person filling in the portal's form is not retrying:
a name that exists is taken, whatever made it. The front door says which it wants; the
operation and its checks stay the same.
"""

from __future__ import annotations

from enum import Enum

from baryon.domain.errors import Conflict


class ExistingName(Enum):
    RETURN_IT = "return it"  # the API: an identical retry gets what exists
    REFUSE = "refuse"  # the portal: the name is taken


def refuse_unless_created(existing: ExistingName, created: bool, what: str) -> None:
    """Refuses the name when nothing was created and ``existing`` says to; ``what`` names the
    resource as messages do: "environment 'dev'"."""
    if not created and existing is ExistingName.REFUSE:
        raise Conflict(f"The {what} already exists.", field=("name",))
