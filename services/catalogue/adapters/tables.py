"""Tables of the catalogue service database (the kit adds its outbox and inbox)."""

from sqlalchemy import MetaData

metadata = MetaData()
