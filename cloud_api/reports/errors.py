"""What can go wrong asking for a report: a bad parameter, or a place the store does not know."""

from __future__ import annotations


class ReportInputError(ValueError):
    """A parameter is wrong; `field` names it (month, from, operators, ...)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class UnknownPlaceError(LookupError):
    """The site or building is not in the store (nor in the energy configuration); the
    message names the known ones."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")
