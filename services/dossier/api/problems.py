"""The problems dossier's own errors answer (the kit's kinds answer as ``KIT_PROBLEMS`` says)."""

from __future__ import annotations

from services.kit.problems import Problem, ProblemTable

from ..domain.catalogue_view import ServiceNotOffered
from ..domain.status import TransitionRefused

PROBLEMS: ProblemTable = {
    ServiceNotOffered: Problem(409, "service-not-offered", "The online service takes no new dossiers"),
    TransitionRefused: Problem(409, "transition-refused", "Status change not allowed"),
}
