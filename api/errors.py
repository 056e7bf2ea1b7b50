"""Errors as JSON: `{"detail": "..."}`, or `{"field": ["message", ...]}` for bad input.

Nested serializer and list errors are flattened to dotted names (`files.0`), and Django
ValidationErrors raised by the models' own checks become 400s naming their fields, so a
client always gets one shape: field name to a list of messages.

An unexpected failure under /api/ answers JSON too: :func:`server_error` is the project's
``handler500``.  Such exceptions are left to Django (DRF's handler does not catch them),
so the request transaction is rolled back and the traceback logged as for every page.
"""
from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY
#: The whole answer to an unexpected failure: what went wrong stays in the server's log.
SERVER_ERROR = "Server error: the request could not be completed. Try again later, or tell the administrator " \
               "if it keeps happening."


def field_messages(error: DjangoValidationError) -> dict[str, list[str]]:
    """A Django ValidationError as {field: [messages]}, with Django's '__all__' under DRF's non-field key."""
    if not hasattr(error, "error_dict"):
        return {NON_FIELD: list(error.messages)}
    return {NON_FIELD if field == NON_FIELD_ERRORS else field: list(messages)
            for field, messages in error.message_dict.items()}


def flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {dotted.field: [messages]}."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        flat = {}
        for index, value in enumerate(detail):
            flat.update(flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or NON_FIELD: [str(message) for message in messages]}


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        # get_object_or_404 names the model ("No Membership matches..."): say only that it is not there,
        # the same for a study that does not exist and one the caller is not a member of.
        exc = exceptions.NotFound()
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(field_messages(exc))
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ValidationError):
        response.data = flatten(response.data)
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's handler500: ``{"detail": ...}`` under /api/, the site's HTML 500 page elsewhere.

    Parameters
    ----------
    request : HttpRequest
        The request whose view (or middleware) raised.

    Returns
    -------
    HttpResponse
        Status 500, without the exception's text.
    """
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": SERVER_ERROR}, status=500)
    return defaults.server_error(request)
