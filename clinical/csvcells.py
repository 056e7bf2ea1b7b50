"""CSV cells that a spreadsheet will not run as a formula (CSV injection, OWASP)."""
from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """A text cell starting like a formula gets a leading single quote; numbers (such as -3) are left as numbers.

    Parameters
    ----------
    value
        The cell as it would be written.

    Returns
    -------
    The cell to write: unchanged unless it is text that a spreadsheet would read as a formula.
    """
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value


def as_typed(cell: str) -> str:
    """A cell read back from an export: the quote :func:`spreadsheet_safe` put before a formula start removed."""
    if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS):
        return cell[1:]
    return cell
