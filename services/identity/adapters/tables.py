"""Tables of the identity service database (the kit adds its outbox and inbox)."""

from sqlalchemy import MetaData

metadata = MetaData()
