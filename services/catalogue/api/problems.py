"""The problems catalogue's own errors answer (the kit's kinds answer as ``KIT_PROBLEMS`` says)."""

from __future__ import annotations

from services.kit.problems import Problem, ProblemTable

from ..service.importer import UnsupportedMediaType

PROBLEMS: ProblemTable = {
    UnsupportedMediaType: Problem(415, "unsupported-media-type", "Unsupported Media Type"),
}
