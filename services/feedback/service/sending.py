"""What a person does with feedback: send it, follow it, add what was asked, withdraw it, rate
the answer. Officials record feedback that came by phone, mail or in person through
:func:`receive` too, with its channel."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import BinaryIO

from contracts.events.feedback import FeedbackReceived, FeedbackWithdrawn
from services.kit.calendar import day_end, day_start
from services.kit.cursors import time_page, time_position
from services.kit.errors import NotFound, RateLimited, ServiceUnavailable, ValidationFailed
from services.kit.files import inspect, safe_filename
from services.kit.storage import FileStorage, StorageError

from ..domain.access import Caller
from ..domain.attachments import Attachment, check_bindable
from ..domain.feedback import Channel, Feedback, Sender, Status, Step, Topic, due_dates, feedback_code, local_date
from ..domain.routing import route
from .rules import Rules
from .unit_of_work import FeedbackUnitOfWork


@dataclass(frozen=True, slots=True)
class NewFeedback:
    """Feedback as sent (texts already checked for length and trimmed by the API's schema)."""

    topic: Topic
    title: str
    content: str
    consent_to_publish: bool
    sender: Sender
    procedure_code: str | None = None
    dossier_code: str | None = None
    agency_code: str | None = None
    channel: Channel = Channel.PORTAL
    attachment_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FeedbackPage:
    items: list[Feedback]
    next: str | None


def _start_of_day(at: datetime) -> datetime:
    return day_start(local_date(at))


def _until_midnight(now: datetime) -> int:
    """Seconds until the next day starts in Vietnam (at least 1)."""
    return max(1, int((day_end(local_date(now)) - now).total_seconds()))


async def receive(uow: FeedbackUnitOfWork, rules: Rules, new: NewFeedback, now: datetime) -> Feedback:
    """Take feedback in: the account's daily limit, the agency it goes to, its deadlines, its
    code; ``received`` is emitted with it."""
    account = new.sender.account
    if account and new.channel is Channel.PORTAL:
        await uow.feedbacks.hold_account(account)  # two sends at once count one after the other
        sent = await uow.feedbacks.sent_since(account, _start_of_day(now))
        if sent >= rules.limits.per_account_per_day:
            limit = rules.limits.per_account_per_day
            raise RateLimited(_until_midnight(now), f"At most {limit} pieces of feedback a day.")
    procedure = offers = dossier = None
    if new.topic is Topic.PROCEDURE and new.procedure_code:
        procedure = await uow.catalogue.procedure(new.procedure_code)
        offers = await uow.catalogue.offers(new.procedure_code)
    elif new.topic is Topic.DOSSIER and new.dossier_code:
        dossier = await uow.dossiers.get(new.dossier_code)
    elif new.topic is Topic.GENERAL and new.agency_code:
        offers = await uow.catalogue.offers_of_agency(new.agency_code)
    agency = route(
        new.topic, sender=account, receiving_agency=rules.receiving_agency, named_agency=new.agency_code,
        procedure=procedure, offers=offers or [], dossier=dossier,
    )  # fmt: skip
    classify_due, answer_due = due_dates(now, rules.calendar, rules.deadlines)
    feedback = Feedback(
        id=str(uuid.uuid4()), code=feedback_code(now, await uow.feedbacks.next_sequence()), sender=new.sender,
        channel=new.channel, topic=new.topic,
        procedure_code=dossier.procedure_code if dossier else new.procedure_code,
        dossier_code=new.dossier_code if new.topic is Topic.DOSSIER else None, agency_code=agency,
        title=new.title, content=new.content, consent_to_publish=new.consent_to_publish, status=Status.RECEIVED,
        received_at=now, classify_due=classify_due, answer_due=answer_due,
        steps=(Step(now, "received", agency, new.channel.value),),
    )  # fmt: skip
    files = await _bind(uow, rules, account, new.attachment_ids, "attachments")
    feedback = replace(feedback, attachments=files)
    await uow.feedbacks.add(feedback)
    await uow.attachments.bind([f.id for f in files], feedback.id)
    await uow.emit(
        FeedbackReceived(
            feedback_id=feedback.id,
            code=feedback.code,
            sender=account,
            channel=new.channel.value,
            topic=new.topic.value,
            procedure_code=feedback.procedure_code,
            dossier_code=feedback.dossier_code,
            agency_code=agency,
            received_at=now,
            classify_due=classify_due,
            answer_due=answer_due,
        ),
        key=feedback.id,
    )
    return feedback


async def _bind(
    uow: FeedbackUnitOfWork, rules: Rules, owner: str, ids: tuple[str, ...], field: str
) -> tuple[Attachment, ...]:
    """The owner's unused files named in ``ids``, locked (to be bound to the feedback)."""
    if not ids:
        return ()
    if len(ids) > rules.limits.attachments:  # the document states the deployment's limit (maxItems)
        message = f"At most {rules.limits.attachments} files."
        raise ValidationFailed([{"field": field, "location": "body", "message": message}])
    found = await uow.attachments.lock(ids)
    check_bindable(owner, ids, found, field)
    return tuple(found[i] for i in ids)


async def upload(
    uow: FeedbackUnitOfWork, rules: Rules, storage: FileStorage, owner: str, source: BinaryIO, filename: str | None,
    now: datetime,
) -> Attachment:  # fmt: skip
    """Keep a file of ``owner``'s for feedback they will send: judged by its content (the kit's
    file rules), at most ``attachment_bytes``, stored before its row; the account's daily uploads
    are limited."""
    await uow.feedbacks.hold_account(owner)  # two uploads at once count one after the other
    if await uow.attachments.uploaded_since(owner, _start_of_day(now)) >= rules.limits.uploads_per_day:
        raise RateLimited(_until_midnight(now), f"At most {rules.limits.uploads_per_day} files a day.")
    kind, size, sha256 = await asyncio.to_thread(inspect, source, rules.limits.attachment_bytes)
    key = uuid.uuid4().hex
    try:
        await storage.put(key, source)
    except StorageError as exc:
        raise ServiceUnavailable("The file store is not available; try again shortly.") from exc
    attachment = Attachment(str(uuid.uuid4()), owner, safe_filename(filename, kind), kind.value, size, sha256, key, now)
    await uow.attachments.add(attachment)
    return attachment


async def attachment(uow: FeedbackUnitOfWork, feedback: Feedback, attachment_id: str) -> Attachment:
    """One file of a feedback the caller may read (the same 404 for any other)."""
    for file in feedback.attachments:
        if file.id == attachment_id:
            return file
    raise NotFound("No such file of this feedback.")


async def own(uow: FeedbackUnitOfWork, caller: Caller, feedback_id: str, *, lock: bool = True) -> Feedback:
    """The caller's own feedback (locked unless ``lock`` is False); anyone else's is the same 404
    as no feedback at all."""
    feedback = await uow.feedbacks.get(feedback_id, lock=lock)
    if feedback is None or not caller.sent(feedback):
        raise NotFound("No such feedback.")
    return feedback


async def mine(uow: FeedbackUnitOfWork, caller: Caller, cursor: str | None, limit: int) -> FeedbackPage:
    items = await uow.feedbacks.of_sender(caller.subject, time_position(cursor), limit + 1)
    return FeedbackPage(*time_page(items, limit, lambda f: (f.received_at, f.id)))


async def add_information(
    uow: FeedbackUnitOfWork, rules: Rules, caller: Caller, feedback_id: str, note: str, now: datetime,
    attachment_ids: tuple[str, ...] = (),
) -> Feedback:  # fmt: skip
    before = await own(uow, caller, feedback_id)
    files = await _bind(uow, rules, caller.subject, attachment_ids, "attachments")
    feedback = before.add_information(note, now, rules.calendar, files)
    await uow.feedbacks.save(feedback)
    await uow.attachments.bind([f.id for f in files], feedback.id)
    return feedback


async def withdraw(uow: FeedbackUnitOfWork, caller: Caller, feedback_id: str, now: datetime) -> Feedback:
    feedback = (await own(uow, caller, feedback_id)).withdraw(now)
    await uow.feedbacks.save(feedback)
    await uow.emit(
        FeedbackWithdrawn(
            feedback_id=feedback.id, code=feedback.code, agency_code=feedback.agency_code, withdrawn_at=now
        ),
        key=feedback.id,
    )
    return feedback


async def rate(uow: FeedbackUnitOfWork, caller: Caller, feedback_id: str, score: int, now: datetime) -> Feedback:
    feedback = (await own(uow, caller, feedback_id)).rate(score, now)
    await uow.feedbacks.save(feedback)
    return feedback
