"""Events of feedback and recommendations (phản ánh, kiến nghị), published on ``feedback.events``
(key: the feedback id).

They carry codes, dates and the sender's account id (``sender``, which notifications look up;
empty for feedback an official recorded from a phone call, a letter or a visit), never the
sender's name, contact details or the text: the text stays in the feedback service, and what is
published of it is read from the public search. ``overdue`` is raised once per deadline missed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from contracts.events.base import Event

#: What the feedback is about: a procedure (its catalogue code), one of the sender's dossiers, or
#: nothing in particular.
Topic = Literal["procedure", "dossier", "general"]
#: How it reached the portal: sent on the portal, or recorded by an official.
Channel = Literal["portal", "phone", "mail", "in_person"]
#: The four groups of Decree 20/2008 as amended by Decree 92/2017 (docs/feedback.md).
Category = Literal["implementation", "within_remit", "outside_remit", "not_accepted"]
#: The deadline that was missed: classifying (and transferring), or answering.
Deadline = Literal["classify", "answer"]

Code = Field(min_length=1, max_length=40)
Account = Field(max_length=64, description="the sender's account id; empty when an official recorded it")


class FeedbackReceived(Event):
    TYPE = "feedback.feedback.received.v1"

    feedback_id: str
    code: str = Code
    sender: str = Account
    channel: Channel
    topic: Topic
    procedure_code: str | None = None
    dossier_code: str | None = None
    agency_code: str = Code
    received_at: datetime
    classify_due: date
    answer_due: date


class FeedbackClassified(Event):
    TYPE = "feedback.feedback.classified.v1"

    feedback_id: str
    code: str = Code
    agency_code: str = Code
    category: Category
    classified_at: datetime


class FeedbackTransferred(Event):
    TYPE = "feedback.feedback.transferred.v1"

    feedback_id: str
    code: str = Code
    from_agency: str = Code
    to_agency: str = Code
    reason: str = Field(min_length=1, max_length=2000)
    transferred_at: datetime
    answer_due: date


class FeedbackInformationRequested(Event):
    TYPE = "feedback.feedback.information_requested.v1"

    feedback_id: str
    code: str = Code
    sender: str = Account
    agency_code: str = Code
    requested_at: datetime


class FeedbackAnswered(Event):
    TYPE = "feedback.feedback.answered.v1"

    feedback_id: str
    code: str = Code
    sender: str = Account
    agency_code: str = Code
    answered_at: datetime
    on_time: bool


class FeedbackPublished(Event):
    TYPE = "feedback.feedback.published.v1"

    feedback_id: str
    code: str = Code
    sender: str = Account
    agency_code: str = Code
    published_at: datetime


class FeedbackOverdue(Event):
    TYPE = "feedback.feedback.overdue.v1"

    feedback_id: str
    code: str = Code
    agency_code: str = Code
    deadline: Deadline
    due: date
    detected_at: datetime


class FeedbackWithdrawn(Event):
    TYPE = "feedback.feedback.withdrawn.v1"

    feedback_id: str
    code: str = Code
    agency_code: str = Code
    withdrawn_at: datetime
