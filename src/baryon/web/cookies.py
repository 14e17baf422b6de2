"""The names of the portal's cookies (what they hold lives behind operations/)."""

from __future__ import annotations

SESSION = "baryon_session"  # a signed-in session's token (operations/portal_sessions.py)
DEVICE = "baryon_device"  # a browser's trust token (operations/trusted_devices.py)
REGION = "baryon_region"  # the region the portal shows (web/regions.py)
