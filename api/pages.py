"""The API's two pages for people: your token, and the list of operations (both need a login)."""
from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token

METHODS = ("get", "post", "put", "patch", "delete")


@require_http_methods(["GET", "POST"])
def token(request: HttpRequest) -> HttpResponse:
    """Show your API token (made on first visit); POST replaces it, so the old one stops working."""
    if request.method == "POST":
        Token.objects.filter(user=request.user).delete()
        Token.objects.create(user=request.user)
        messages.success(request, "A new token was made; the old one no longer works.")
        return redirect("api:token")
    key = Token.objects.get_or_create(user=request.user)[0].key
    return render(request, "api/token.html", {"key": key})


def operations(schema: dict) -> list[dict]:
    """One row per operation of an OpenAPI schema, in path order."""
    rows = []
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                operation = item[method]
                rows.append({"method": method.upper(), "path": path, "summary": operation.get("summary", ""),
                             "description": operation.get("description", ""),
                             "parameters": [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]})
    return rows


def docs(request: HttpRequest) -> HttpResponse:
    """The operations of the API, read from the same schema as /api/schema (works offline)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return render(request, "api/docs.html", {"operations": operations(schema), "info": schema["info"]})
