"""Writing to the audit log: every change with who, when, which field, old and new value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from directory.models import AuditEvent, User


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple | set):
        return ";".join(str(v) for v in value)
    return str(value)


def event_row(actor: User | None, action: str, entity_type: str, entity_id: object = None) -> dict[str, Any]:
    """Who did what to which entity, as the column values of one event (`record` builds its events
    from these; hot paths write them with a plain INSERT, cheaper than an ORM object)."""
    return {
        "actor_id": actor.id if actor is not None else None,
        "action": action,
        "entity_type": entity_type,
        "entity_id": None if entity_id is None else str(entity_id),
    }


def record(
    session: Session,
    actor: User | None,
    action: str,
    entity_type: str,
    entity_id: object = None,
    *,
    changes: Mapping[str, tuple[Any, Any]] | None = None,
    detail: str | None = None,
) -> None:
    """Add audit events to the session (committed with the change they describe).

    With `changes` ({field: (old, new)}), one event per changed field; otherwise one event.
    """
    event = event_row(actor, action, entity_type, entity_id)
    if changes:
        for field, (old, new) in changes.items():
            session.add(AuditEvent(**event, field=field, old_value=_text(old), new_value=_text(new), detail=detail))
    else:
        session.add(AuditEvent(**event, detail=detail))
