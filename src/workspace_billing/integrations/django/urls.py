"""``path("billing/", include("workspace_billing.integrations.django.urls"))``."""

from __future__ import annotations

from django.urls import URLPattern, path

from ..web import ROUTES, Route
from .views import api_view, webhook

__all__ = ["urlpatterns"]

app_name = "workspace_billing"


def _django_path(route_path: str) -> str:
    """``/workspaces/{workspace_id}/members/{user}`` as Django writes it."""
    return route_path.lstrip("/").replace("{", "<str:").replace("}", ">")


def _patterns() -> list[URLPattern]:
    by_path: dict[str, dict[str, Route]] = {}
    for route in ROUTES:
        by_path.setdefault(route.path, {})[route.method] = route
    patterns = [
        path(_django_path(route_path), api_view(routes), name="_".join(sorted(
            r.name for r in routes.values())))
        for route_path, routes in by_path.items()
    ]  # fmt: skip
    patterns.append(path("webhook", webhook, name="webhook"))
    return patterns


urlpatterns = _patterns()
