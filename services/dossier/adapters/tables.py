"""Tables of the dossier service database (the kit adds its outbox and inbox)."""

from sqlalchemy import MetaData

metadata = MetaData()
