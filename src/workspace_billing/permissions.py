"""Who may manage billing (R5): the active owner and active admins, nobody else."""

from __future__ import annotations

from collections.abc import Iterable

from .errors import PermissionDenied
from .workspace import Member

__all__ = ["require_manager"]


def require_manager(workspace_id: str, members: Iterable[Member], actor: str) -> Member:
    """The actor's membership when it may manage billing; ``PermissionDenied`` otherwise.

    A stranger, a plain member and a deactivated admin are refused alike, with
    the same message, so the error does not reveal who belongs to a workspace.
    """
    for member in members:
        if member.user == actor and member.is_active and member.role.manages_billing:
            return member
    raise PermissionDenied(
        f"{actor!r} may not manage workspace {workspace_id!r}: "
        "only its owner and admins manage billing and members"
    )
