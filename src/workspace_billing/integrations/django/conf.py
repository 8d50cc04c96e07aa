"""The ``WORKSPACE_BILLING`` setting, and a store on Django's own database settings.

::

    WORKSPACE_BILLING = {
        "BILLING": "myproject.billing.billing",       # a Billing, or a callable making one
        "CURRENT_USER": "myproject.billing.user_id",  # optional: request -> user id or None
        "RETURN_URLS": {
            "success": "https://app.example/w/{workspace_id}/billing?paid=1",
            "cancel": "https://app.example/w/{workspace_id}/billing",
            "portal": "https://app.example/w/{workspace_id}/billing",
        },
    }
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.http import HttpRequest
from django.utils.module_loading import import_string

from ...billing import Billing
from ...storage.sql import SQLStore
from ..web import ReturnUrls

__all__ = ["billing", "current_user", "return_urls", "store_from_settings"]

_DIALECTS = {
    "django.db.backends.sqlite3": "sqlite",
    "django.db.backends.postgresql": "postgresql+psycopg",
}


def _setting(name: str, default: Any = None) -> Any:
    config = getattr(settings, "WORKSPACE_BILLING", None)
    if not isinstance(config, dict):
        raise ImproperlyConfigured("set WORKSPACE_BILLING = {'BILLING': ..., 'RETURN_URLS': ...}")
    return config.get(name, default)


@functools.cache
def billing() -> Billing:
    """The project's ``Billing``: ``WORKSPACE_BILLING["BILLING"]``, a dotted path to a
    ``Billing`` or to a callable returning one (called once)."""
    path = _setting("BILLING")
    if not isinstance(path, str):
        raise ImproperlyConfigured("WORKSPACE_BILLING['BILLING'] must be a dotted path")
    found = import_string(path)
    made = found if isinstance(found, Billing) else found()
    if not isinstance(made, Billing):
        raise ImproperlyConfigured(f"{path} is not a Billing, nor returns one")
    return made


def current_user(request: HttpRequest) -> str | None:
    """The signed-in user's id as the library knows it: ``WORKSPACE_BILLING["CURRENT_USER"]``
    (a dotted path to a function of the request), or by default the user's
    primary key as text; ``None`` when nobody is signed in."""
    path = _setting("CURRENT_USER")
    if path is not None:
        user: str | None = import_string(path)(request)
        return user
    person = getattr(request, "user", None)
    if person is None or not person.is_authenticated:
        return None
    return str(person.pk)


def return_urls() -> ReturnUrls:
    """Where the provider's pages send the user back: ``WORKSPACE_BILLING["RETURN_URLS"]``."""
    urls = _setting("RETURN_URLS")
    if not isinstance(urls, dict) or set(urls) != {"success", "cancel", "portal"}:
        raise ImproperlyConfigured(
            "WORKSPACE_BILLING['RETURN_URLS'] needs 'success', 'cancel' and 'portal'"
        )
    return ReturnUrls(**urls)


def store_from_settings(alias: str = "default", **engine_options: Any) -> SQLStore:
    """A ``SQLStore`` on the database Django's ``DATABASES[alias]`` names (SQLite or
    PostgreSQL), with its own SQLAlchemy engine: the library's tables sit beside
    the project's. Run ``workspace-billing db upgrade`` (or ``create_schema=True``)
    for them."""
    try:
        database = settings.DATABASES[alias]
    except KeyError:
        raise ImproperlyConfigured(f"no database {alias!r} in DATABASES") from None
    dialect = _DIALECTS.get(database.get("ENGINE", ""))
    if dialect is None:
        raise ImproperlyConfigured(
            f"DATABASES[{alias!r}] uses {database.get('ENGINE')!r}: the store runs on "
            "SQLite or PostgreSQL"
        )
    url = sa.URL.create(
        dialect,
        username=database.get("USER") or None,
        password=database.get("PASSWORD") or None,
        host=database.get("HOST") or None,
        port=int(database["PORT"]) if database.get("PORT") else None,
        database=str(database.get("NAME")) if database.get("NAME") else None,
    )
    return SQLStore.from_url(url.render_as_string(hide_password=False), **engine_options)


def _forget(*, setting: str, **kwargs: Any) -> None:
    if setting == "WORKSPACE_BILLING":
        billing.cache_clear()


setting_changed.connect(_forget)
