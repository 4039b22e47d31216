"""``make bench``: the catalogue's public search at national scale, next to a baseline measured
in the same run (a bare FastAPI endpoint doing one trivial asyncpg query, served the same way)."""
