"""The ``date`` column of a CSV: parsed, its step (the data's frequency) found, and continued past the
last row, so that a forecast's rows carry the dates they forecast.

Dates are ISO 8601 as Python reads them (``2016-07-01 00:00:00``, ``2016-07-01T00:00``, ``2016-07-01``).
A series is evenly spaced when every step between rows is the same; only then has it a frequency.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from ..errors import InputError

logger = logging.getLogger(__name__)


def parse(cells: list[str], source: str) -> list[datetime]:
    """The dates of a ``date`` column; ``source`` names the file in the one-line error.

    Raises:
        InputError: a cell is not an ISO 8601 date, or the dates mix time zones with naive times.
    """
    dates = []
    for row, cell in enumerate(cells, start=2):  # the header is row 1
        try:
            dates.append(datetime.fromisoformat(cell.strip()))
        except ValueError:
            raise InputError(
                f"{source}, row {row}: date {cell!r} is not an ISO 8601 date (2016-07-01 00:00:00)"
            ) from None
    if len({d.tzinfo is None for d in dates}) > 1:
        raise InputError(f"{source}: some dates have a time zone and some do not")
    return dates


def step_of(cells: list[str] | None, source: str) -> timedelta | None:
    """The step of a ``date`` column's cells (``step``), or None, with a warning naming ``source``, where none
    of them is an ISO 8601 date (the data is then used without dates: forecasts number their steps).

    Raises:
        InputError: naming the row, where the dates are ambiguous: some ISO 8601 and some not, written in
            two formats, repeated, or out of order.
    """
    if not cells:
        return None
    if not any(is_iso(cell) for cell in cells):
        logger.warning("%s: the dates (%r, row 2) are not ISO 8601; its rows are used without dates", source, cells[0])
        return None
    dates = parse(cells, source)
    check_format(cells, source)
    check_order(dates, cells, source)
    return step(dates)


def is_iso(cell: str) -> bool:
    """Whether ``cell`` is an ISO 8601 date as ``parse`` reads it."""
    try:
        datetime.fromisoformat(cell.strip())
    except ValueError:
        return False
    return True


def check_format(cells: list[str], source: str) -> None:
    """Refuses a column whose dates are not all written alike (``2016-07-01`` beside ``2016-07-01 01:00``)."""
    first = re.sub("[0-9]", "9", cells[0].strip())
    for row, cell in enumerate(cells, start=2):
        if re.sub("[0-9]", "9", cell.strip()) != first:
            raise InputError(
                f"{source}, row {row}: date {cell!r} is not written as row 2's {cells[0]!r} (mixed formats)"
            )


def check_order(dates: list[datetime], cells: list[str], source: str) -> None:
    """Refuses dates that repeat or go back in time, naming the first such row."""
    for row, (before, date) in enumerate(zip(dates, dates[1:]), start=3):
        if date == before:
            raise InputError(f"{source}, row {row}: date {cells[row - 2]!r} repeats row {row - 1}'s")
        if date < before:
            raise InputError(
                f"{source}, row {row}: date {cells[row - 2]!r} is before row {row - 1}'s {cells[row - 3]!r}: "
                "the rows are not in time order (sort the file by date)"
            )


def step(dates: list[datetime]) -> timedelta | None:
    """The step between consecutive ``dates`` when it is the same positive step throughout (None: fewer than
    two dates, or not evenly spaced)."""
    steps = {b - a for a, b in zip(dates, dates[1:])}
    if len(steps) != 1:
        return None
    (only,) = steps
    return only if only > timedelta(0) else None


def following(last: datetime, every: timedelta, count: int) -> list[datetime]:
    """The ``count`` dates after ``last``, ``every`` apart."""
    return [last + every * (k + 1) for k in range(count)]


def formatted(dates: list[datetime], like: str) -> list[str]:
    """``dates`` written as the cell ``like`` was: a date alone stays a date, a date and time in the
    ``YYYY-MM-DD HH:MM:SS`` form (``T`` kept where ``like`` used it)."""
    if len(like.strip()) <= 10:
        return [d.date().isoformat() for d in dates]
    separator = "T" if "T" in like else " "
    return [d.isoformat(sep=separator) for d in dates]
