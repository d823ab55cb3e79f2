"""Server-side sessions whose id is replaced at every sign-in and sign-out.

Litestar keeps the id a browser brings (session fixation: a planted id survives the sign-in), and has no
rotate call; this backend issues a fresh id, and deletes the old record, when a view asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.types import Message, ScopeSession

_ROTATE = "imvo.rotate_session"
_NEW_ID = "imvo.new_session_id"


def rotate_session(connection: ASGIConnection[Any, Any, Any, Any], data: dict[str, Any]) -> None:
    """Replace the session's data and give it a new id (on sign-in, sign-out and privilege changes)."""
    connection.scope[_ROTATE] = True  # type: ignore[literal-required]
    connection.set_session(data)


class RotatingBackend(ServerSideSessionBackend):
    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        return connection.scope.get(_NEW_ID) or super().get_session_id(connection)  # type: ignore[return-value]

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        scope = connection.scope
        if scope.get(_ROTATE) and _NEW_ID not in scope:
            if old := connection.cookies.get(self.config.key):
                await self.delete(old, store=self.config.get_store_from_app(scope["app"]))
            scope[_NEW_ID] = self.generate_session_id()  # type: ignore[literal-required]
        await super().store_in_message(scope_session, message, connection)


@dataclass
class RotatingSessionConfig(ServerSideSessionConfig):
    _backend_class = RotatingBackend  # type: ignore[assignment]
