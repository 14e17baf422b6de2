"""The region selector: which of the regions this Baryon serves the portal shows.

Regions are apart as AWS's are (runtime.py), so the portal shows one at a time, as the AWS
console does; the choice is a cookie of this browser, and signing in is for every region.
"""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from baryon.web import cookies, urls
from baryon.web.http import PortalError, Visit
from baryon.web.signin import _safe_next

# A choice outlives the session it was made in: the region a team works in rarely changes.
_KEPT_SECONDS = 365 * 24 * 3600


def choose(visit: Visit) -> Response:
    region = visit.form.get("region", "")
    served = visit.runtime.cells.regions
    if region not in served:
        raise PortalError(f"This Baryon serves {', '.join(served)}; pick one of them.")
    response = RedirectResponse(_safe_next(visit.form.get("next", "")), status_code=303)
    response.set_cookie(
        cookies.REGION,
        region,
        max_age=_KEPT_SECONDS,
        path=urls.PREFIX,
        httponly=True,
        samesite="lax",
        secure=visit.secure,
    )
    return response
