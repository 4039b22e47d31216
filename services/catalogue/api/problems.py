"""The problems catalogue's own errors answer (the kit's kinds answer as ``KIT_PROBLEMS`` says)."""

from __future__ import annotations

from services.kit.problems import Problem, ProblemTable

from ..service.editor import UnknownReference
from ..service.importer import UnsupportedMediaType

PROBLEMS: ProblemTable = {
    UnsupportedMediaType: Problem(415, "unsupported-media-type", "Unsupported Media Type"),
    UnknownReference: Problem(
        409,
        "unknown-reference",
        "Names something the catalogue does not have",
        description="A write names a sector, procedure or agency the catalogue does not have (or a procedure "
        "that is retired); `errors` names the field.",
        remedy="Use a code the catalogue lists (sectors, procedures, agencies), or, for a new sector, give "
        "sector_name to create it.",
    ),
}
