"""The problems payment's own errors answer (the kit's kinds answer as ``KIT_PROBLEMS`` says)."""

from __future__ import annotations

from services.kit.problems import Problem, ProblemTable

from ..domain.orders import NothingToPay, TransitionRefused
from ..service.callbacks import SignatureInvalid

PROBLEMS: ProblemTable = {
    NothingToPay: Problem(409, "nothing-to-pay", "No fees are due for this dossier"),
    SignatureInvalid: Problem(401, "callback-signature-invalid", "The callback's signature does not hold"),
    TransitionRefused: Problem(409, "order-transition-refused", "Order state change not allowed"),
}
