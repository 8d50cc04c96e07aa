"""Workspaces in the states the capability tests start from."""

from __future__ import annotations

import pytest
from tests.conftest import PaidWorkspace
from tests.service.support import ADMIN, MEMBER, OWNER

from workspace_billing import Billing


@pytest.fixture(name="paid_id")
def paid_id_fixture(paid_workspace: PaidWorkspace) -> str:
    """Business, monthly, 4 seats: the owner, an admin and a member; one seat free."""
    return paid_workspace(seats=4, owner=OWNER, members=(ADMIN, MEMBER), admins=(ADMIN,)).id


@pytest.fixture(name="trial_id")
def trial_id_fixture(billing: Billing) -> str:
    """The owner's first workspace: trialing, no customer at the provider yet."""
    return billing.create_workspace(owner="tess", name="Trial Co").id


@pytest.fixture(name="free_id")
def free_id_fixture(billing: Billing) -> str:
    """An owner's second workspace: on the free fallback, no trial (R2)."""
    billing.create_workspace(owner="fred", name="First")
    return billing.create_workspace(owner="fred", name="Second").id
