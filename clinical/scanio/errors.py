"""The single exception type of the scan-ingest library."""

from __future__ import annotations


class UploadError(ValueError):
    """An upload that cannot be accepted.

    The message always starts with the offending file (its basename as
    uploaded, or ``archive.zip:member/path`` for a zip member) and ends with
    what the coordinator should do about it.

    Parameters
    ----------
    name : str
        The offending file, as the coordinator knows it.
    problem : str
        What is wrong with it.
    remedy : str
        What to do instead.
    """

    def __init__(self, name: str, problem: str, remedy: str) -> None:
        self.name = name
        self.problem = problem
        self.remedy = remedy
        super().__init__(f"{name}: {problem}; {remedy}.")
