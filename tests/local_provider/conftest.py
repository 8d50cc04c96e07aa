"""The local provider on a SQLite file, its pages mounted in a Starlette app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient
from tests.local_provider.support import BASE_URL, empty_database

from workspace_billing import Catalog
from workspace_billing.providers.local import LocalPaymentProvider
from workspace_billing.testing import FakeClock


@pytest.fixture(name="local_url")
def local_url_fixture(tmp_path: Path) -> str:
    """The SQLite file the provider keeps its tables in."""
    return empty_database("sqlite", tmp_path)


@pytest.fixture(name="local")
def local_fixture(clock: FakeClock, local_url: str) -> Iterator[LocalPaymentProvider]:
    provider = LocalPaymentProvider.from_url(
        local_url,
        clock=clock,
        base_url=BASE_URL,
        create_schema=True,
        catalog=Catalog.default(),
    )
    yield provider
    provider.dispose()


@pytest.fixture(name="client")
def client_fixture(local: LocalPaymentProvider) -> Iterator[TestClient]:
    """A browser on the host's app, the provider's pages mounted at /_local_billing."""
    app = Starlette(routes=[Mount("/_local_billing", app=local.pages())])
    with TestClient(app, follow_redirects=False) as client:
        yield client
