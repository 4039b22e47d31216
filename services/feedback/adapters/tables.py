"""Tables of the feedback service database (the kit adds its outbox and inbox).

- ``feedback``: each piece with its sender's contact details (never published), its agency,
  state and deadlines; ``feedback_steps`` its timeline.
- ``published_answers``: the public copy (plain, redacted text) with a ``tsvector`` of its folded
  words (``simple`` configuration: the words are already without diacritics and lower-case), a
  GIN index on it, for rare words, and the newest-first index, for common ones (read in order
  until a page matches; ``SqlPublishedAnswers.search`` chooses between them).
- ``answer_words``: how many published answers hold each word (the search's choice of index).
- ``attachments``: files sent with feedback (bytes in the file store, this row names them).
- ``procedures``, ``offers``, ``known_dossiers``: what the catalogue's and the dossier service's
  events told, for routing.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Sequence,
    SmallInteger,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR, UUID

metadata = MetaData()

feedback_codes = Sequence("feedback_codes", metadata=metadata, start=1)

STATUSES = "'received','handling','information_requested','answered','closed','withdrawn'"

feedback = Table(
    "feedback",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("code", Text, nullable=False, unique=True),
    Column("sender_account", Text, nullable=False),  # '' when an official recorded it
    Column("sender_kind", Text, nullable=False),
    Column("sender_name", Text, nullable=False),
    Column("sender_phone", Text, nullable=False),
    Column("sender_email", Text),
    Column("sender_address", Text, nullable=False),
    Column("sender_organisation", Text),
    Column("channel", Text, nullable=False),
    Column("topic", Text, nullable=False),
    Column("procedure_code", Text),
    Column("dossier_code", Text),
    Column("agency_code", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("content", Text, nullable=False),
    Column("consent_to_publish", Boolean, nullable=False),
    Column("status", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("classify_due", Date, nullable=False),
    Column("answer_due", Date, nullable=False),
    Column("category", Text),
    Column("refusal", Text),
    Column("days_left", Integer),
    Column("answer", Text),
    Column("answered_at", DateTime(timezone=True)),
    Column("answered_on_time", Boolean),
    Column("published_at", DateTime(timezone=True)),
    Column("rating", SmallInteger),
    Column("overdue_classify", Boolean, nullable=False, server_default=text("false")),
    Column("overdue_answer", Boolean, nullable=False, server_default=text("false")),
    CheckConstraint(f"status IN ({STATUSES})", name="feedback_status"),
    CheckConstraint("channel IN ('portal','phone','mail','in_person')", name="feedback_channel"),
    CheckConstraint("topic IN ('procedure','dossier','general')", name="feedback_topic"),
    CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="feedback_rating"),
)
# A sender's list and daily count; an agency's queue (oldest first); the overdue check's open rows.
Index("feedback_sender", feedback.c.sender_account, feedback.c.received_at.desc(), feedback.c.id.desc())
Index("feedback_queue", feedback.c.agency_code, feedback.c.received_at, feedback.c.id)
Index(
    "feedback_open_due",
    feedback.c.answer_due,
    postgresql_where=text("status IN ('received','handling') AND NOT (overdue_classify AND overdue_answer)"),
)

feedback_steps = Table(
    "feedback_steps",
    metadata,
    Column("feedback_id", UUID(as_uuid=False), ForeignKey("feedback.id", ondelete="CASCADE"), nullable=False),
    Column("seq", SmallInteger, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("agency_code", Text, nullable=False),
    Column("note", Text),
    PrimaryKeyConstraint("feedback_id", "seq"),
)

published_answers = Table(
    "published_answers",
    metadata,
    Column("feedback_id", UUID(as_uuid=False), primary_key=True),
    Column("code", Text, nullable=False),
    Column("agency_code", Text, nullable=False),
    Column("agency_name", Text),
    Column("procedure_code", Text),
    Column("procedure_name", Text),
    Column("sector_code", Text),
    Column("title", Text, nullable=False),
    Column("content", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("answered_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
    Column("words", Text, nullable=False),
    # Without positions (``strip``: the search matches words, never phrases), so that it stays
    # in the row: migration 0004 stores it ``STORAGE MAIN``, the last column moved out of line.
    # A search reading answers in order checks thousands of these; out of line, each check read
    # the TOAST table too (one answer in five at a million, and most of the time spent).
    Column("search", TSVECTOR, Computed("strip(to_tsvector('simple', words))", persisted=True), nullable=False),
)
_a = published_answers.c
Index("published_answers_newest", _a.published_at.desc(), _a.feedback_id.desc())
Index("published_answers_search", _a.search, postgresql_using="gin")
# Each filter's answers newest first, in the order of the cursor (the id breaks ties).
Index("published_answers_agency", _a.agency_code, _a.published_at.desc(), _a.feedback_id.desc())
Index("published_answers_procedure", _a.procedure_code, _a.published_at.desc(), _a.feedback_id.desc())
Index("published_answers_sector", _a.sector_code, _a.published_at.desc(), _a.feedback_id.desc())

# How many published answers hold each word: how rare a search's rarest word is, read before
# choosing how to search (``SqlPublishedAnswers.search``). Kept as answers are published.
answer_words = Table(
    "answer_words",
    metadata,
    Column("word", Text, primary_key=True),
    Column("answers", Integer, nullable=False),
)

procedures = Table(
    "procedures",
    metadata,
    Column("code", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("sector_code", Text, nullable=False),
    Column("sector_name", Text, nullable=False),
)

offers = Table(
    "offers",
    metadata,
    Column("service_id", Text, primary_key=True),
    Column("procedure_code", Text, nullable=False),
    Column("agency_code", Text, nullable=False),
    Column("agency_name", Text, nullable=False),
)
Index("offers_procedure", offers.c.procedure_code)
Index("offers_agency", offers.c.agency_code)

known_dossiers = Table(
    "known_dossiers",
    metadata,
    Column("code", Text, primary_key=True),
    Column("owner", Text),
    Column("agency_code", Text, nullable=False),
    Column("procedure_code", Text, nullable=False),
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("owner", Text, nullable=False),
    Column("filename", Text, nullable=False),
    Column("content_type", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("storage_key", Text, nullable=False),
    Column("uploaded_at", DateTime(timezone=True), nullable=False),
    Column("feedback_id", UUID(as_uuid=False), ForeignKey("feedback.id", ondelete="CASCADE")),
)
# An account's uploads of a day (its limit); a feedback's files.
Index("attachments_owner", attachments.c.owner, attachments.c.uploaded_at)
Index("attachments_feedback", attachments.c.feedback_id, postgresql_where=text("feedback_id IS NOT NULL"))

TABLES = [feedback, feedback_steps, published_answers, procedures, offers, known_dossiers]
ATTACHMENT_TABLES = [attachments]
WORD_TABLES = [answer_words]
