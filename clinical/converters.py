"""URL converters shared by every app's pages (registered in ClinicalConfig.ready)."""


class IdConverter:
    """An object id of at most 18 digits: longer numbers cannot be ids and would overflow the database.

    Django's ``int`` converter accepts any length, so ``/studies/99999999999999999999/`` reached the
    query and failed with a server error instead of a 404.
    """

    regex = "[0-9]{1,18}"
    to_python = staticmethod(int)
    to_url = staticmethod(str)
