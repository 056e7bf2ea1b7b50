"""OpenAPI generation: every operation also documents the error answers the access rules give."""
from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent

ERROR_SCHEMA = {
    "type": "object",
    "description": "`detail` says what went wrong; for bad input each field (dotted for list items, "
    "`non_field_errors` for the whole body) maps to its messages.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}

ERRORS = {
    "400": "Bad input: the fields and what to change.",
    "401": "No valid token or session.",
    "403": "Your role in the study does not allow this (viewers read only; see docs/api.md).",
    "404": "No such object, or not in one of your studies.",
}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema plus the JSON error answers of every operation."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        error = ResolvedComponent(name="Error", type=ResolvedComponent.SCHEMA, object="Error", schema=ERROR_SCHEMA)
        self.registry.register_on_missing(error)
        for code, description in ERRORS.items():
            responses.setdefault(code, {"description": description,
                                        "content": {"application/json": {"schema": error.ref}}})
        return responses
