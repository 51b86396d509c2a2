"""Who a transaction acts for. The database enforces it; this only carries it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class PrincipalKind(StrEnum):
    USER = "user"
    SERVICE = "service"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Principal:
    """An ordinary user (``user_id`` set), or a service that may act for the user it names, or
    an operator (never a user: it reads across users only through the operator functions).

    A service principal may write the shared catalogs (agents, personas); a user principal may
    only read them. Rows of a user are reachable only while ``user_id`` is that user.
    """

    kind: PrincipalKind
    user_id: uuid.UUID | None = None

    @classmethod
    def user(cls, user_id: uuid.UUID) -> Principal:
        return cls(PrincipalKind.USER, user_id)

    @classmethod
    def service(cls, acting_for: uuid.UUID | None = None) -> Principal:
        return cls(PrincipalKind.SERVICE, acting_for)

    @classmethod
    def operator(cls) -> Principal:
        return cls(PrincipalKind.OPERATOR)

    @property
    def is_operator(self) -> bool:
        return self.kind is PrincipalKind.OPERATOR

    @property
    def is_service(self) -> bool:
        return self.kind is PrincipalKind.SERVICE
