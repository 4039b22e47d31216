"""Development-only stand-ins for the portal's outside parties (a bank; later an agency)."""
