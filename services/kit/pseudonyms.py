"""A pseudonym of a person's or enterprise's identifier that only the portal's services can
compute: HMAC-SHA256 under the deployment's ``PORTAL_APPLICANT_KEY``.

Identity puts it in access tokens (claim ``applicant_key``) instead of the personal
identification number or tax code itself, and the dossier service stores it beside each
dossier's applicant, so an account finds the dossiers filed for it elsewhere (mirrored from an
agency's system) without tokens ever carrying a national identifier. A plain hash would not
do: 12-digit numbers are few enough to hash them all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

CLAIM = "applicant_key"


def applicant_key(secret: str, identifier: str) -> str:
    digest = hmac.new(secret.encode(), identifier.strip().upper().encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
