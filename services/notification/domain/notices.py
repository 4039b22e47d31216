"""What the portal tells people, and how each kind of notice may travel. Pure Python.

A notice is made once per triggering event and person (whatever the event's redeliveries): an
inbox item always, and a message on each channel the person's preferences and the notice's kind
allow. Essential notices (the receipt of a filing, a request for documents or information, a
result) cannot be switched off: they go by SMS and e-mail whatever the preferences. Urgent ones
are not held back by quiet hours. Some kinds never go by some channels: the officials' digest is
a daily summary, worth an e-mail or a push but not an SMS (a paid, short message meant for what
a person must act on).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .delivery import Channel


class Kind(StrEnum):
    DOSSIER_RECEIVED = "dossier-received"
    SUPPLEMENT_REQUESTED = "supplement-requested"
    DOSSIER_IN_PROCESSING = "dossier-in-processing"
    DOSSIER_PROCESSED = "dossier-processed"
    RESULT_RETURNED = "result-returned"
    APPOINTMENT_CHANGED = "appointment-changed"
    PAYMENT_SUCCEEDED = "payment-succeeded"
    PAYMENT_FAILED = "payment-failed"
    PAYMENT_EXPIRING = "payment-expiring"
    FEEDBACK_INFORMATION_REQUESTED = "feedback-information-requested"
    FEEDBACK_ANSWERED = "feedback-answered"
    OFFICIAL_DIGEST = "official-digest"


#: Channels a person may choose; the inbox is always on.
CHOOSABLE = (Channel.SMS, Channel.EMAIL, Channel.PUSH)


@dataclass(frozen=True, slots=True)
class KindRules:
    essential: bool  # cannot be switched off
    urgent: bool  # not held back by quiet hours
    channels: frozenset[Channel] = frozenset(CHOOSABLE)  # the most it goes by (besides the inbox)


RULES: dict[Kind, KindRules] = {
    Kind.DOSSIER_RECEIVED: KindRules(essential=True, urgent=False),
    Kind.SUPPLEMENT_REQUESTED: KindRules(essential=True, urgent=True),
    Kind.DOSSIER_IN_PROCESSING: KindRules(essential=False, urgent=False),
    Kind.DOSSIER_PROCESSED: KindRules(essential=False, urgent=False),
    Kind.RESULT_RETURNED: KindRules(essential=True, urgent=False),
    Kind.APPOINTMENT_CHANGED: KindRules(essential=False, urgent=False),
    Kind.PAYMENT_SUCCEEDED: KindRules(essential=False, urgent=False),
    Kind.PAYMENT_FAILED: KindRules(essential=False, urgent=True),
    Kind.PAYMENT_EXPIRING: KindRules(essential=False, urgent=True),
    Kind.FEEDBACK_INFORMATION_REQUESTED: KindRules(essential=True, urgent=False),
    Kind.FEEDBACK_ANSWERED: KindRules(essential=False, urgent=False),
    Kind.OFFICIAL_DIGEST: KindRules(essential=False, urgent=False, channels=frozenset({Channel.EMAIL, Channel.PUSH})),
}


@dataclass(frozen=True, slots=True)
class Preferences:
    """One person's choices: the channels they want, and the kinds they switched off."""

    account_id: str
    channels: frozenset[Channel] = frozenset(CHOOSABLE)
    switched_off: frozenset[Kind] = frozenset()

    def channels_for(self, kind: Kind) -> frozenset[Channel]:
        """The channels a notice of ``kind`` goes by (besides the inbox), never beyond the kind's own."""
        rules = RULES[kind]
        if rules.essential:
            return (self.channels | {Channel.SMS, Channel.EMAIL}) & rules.channels
        if kind in self.switched_off:
            return frozenset()
        return self.channels & rules.channels


class EssentialKind(ValueError):
    """An essential kind cannot be switched off."""

    def __init__(self, kinds: list[Kind]) -> None:
        super().__init__(", ".join(k.value for k in kinds))
        self.kinds = kinds


def choose(account_id: str, channels: set[Channel], switched_off: set[Kind]) -> Preferences:
    """New preferences; refuses to switch off an essential kind."""
    essential = sorted((k for k in switched_off if RULES[k].essential), key=lambda k: k.value)
    if essential:
        raise EssentialKind(essential)
    return Preferences(account_id, frozenset(channels), frozenset(switched_off))
