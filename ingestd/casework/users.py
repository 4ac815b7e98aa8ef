"""The desk's users: agents and admins, who log in to the web desk and to whom cases are assigned.

A user's name is their login and the name a case is assigned to. Passwords are kept as
argon2id hashes (argon2-cffi's defaults), never in clear. A disabled user cannot log in and
cannot be given a case; their name stays on the cases they worked.

Once any user exists, a case is assigned only to an enabled user (`check_assignee`); an
install without users (one that works cases from the CLI only, as before the desk) still
assigns to any name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from ingestd.errors import IngestdError, NotFound
from storage import AppUser, utcnow

ROLES = ("agent", "admin")
PASSWORD_MIN = 10
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}")
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+")
_HASHER = PasswordHasher()
# Checked against when the name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


@dataclass(frozen=True)
class UserView:
    name: str
    email: str
    role: str
    disabled: bool


def add_user(session: Session, name: str, email: str, role: str, password: str) -> None:
    """Add an agent or admin; the name must be new."""
    if not _NAME.fullmatch(name):
        raise IngestdError(f"user name {name!r} is not usable; use letters, digits and . _ @ + - "
                           "(no spaces), starting with a letter or digit")
    if not _EMAIL.fullmatch(email):
        raise IngestdError(f"--email {email!r} is not a mail address; give one like "
                           "ann@example.com")
    if role not in ROLES:
        raise IngestdError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if session.scalar(select(AppUser.id).where(AppUser.name == name)) is not None:
        raise IngestdError(f"user {name!r} exists; change the password with: ingestd users "
                           f"passwd {name}")
    session.add(AppUser(name=name, email=email, role=role, password_hash=_hash(password),
                        disabled=False, created_at=utcnow()))
    session.flush()


def set_password(session: Session, name: str, password: str) -> None:
    _user(session, name).password_hash = _hash(password)


def disable_user(session: Session, name: str) -> None:
    """The user can no longer log in nor be given cases; their cases keep their name."""
    _user(session, name).disabled = True


def enable_user(session: Session, name: str) -> None:
    _user(session, name).disabled = False


def authenticate(session: Session, name: str, password: str) -> UserView | None:
    """The user when `password` is theirs and they are enabled; None otherwise (unknown
    name, disabled or wrong password alike). A hash made with older parameters is renewed."""
    user = session.scalar(select(AppUser).where(AppUser.name == name))
    try:
        _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled:
        return None
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    return _view(user)


def get_user(session: Session, name: str) -> UserView:
    return _view(_user(session, name))


def list_users(session: Session) -> list[UserView]:
    return [_view(u) for u in session.scalars(select(AppUser).order_by(AppUser.name))]


def any_user(session: Session) -> bool:
    return bool(session.scalar(select(exists().where(AppUser.id.isnot(None)))))


def check_assignee(session: Session, name: str) -> AppUser | None:
    """The user a case may be assigned to under `name`; None on an install without users
    (free text, as before the desk). Raises for an unknown or disabled user."""
    user = session.scalar(select(AppUser).where(AppUser.name == name))
    if user is None:
        if not any_user(session):
            return None
        raise IngestdError(f"no user {name!r}; add one: ingestd users add {name} "
                           "--email ADDRESS --role agent")
    if user.disabled:
        raise IngestdError(f"user {name!r} is disabled; assign the case to someone else")
    return user


def _user(session: Session, name: str) -> AppUser:
    user = session.scalar(select(AppUser).where(AppUser.name == name))
    if user is None:
        raise NotFound(f"no user {name!r}; list them with: ingestd users list")
    return user


def _hash(password: str) -> str:
    if len(password) < PASSWORD_MIN:
        raise IngestdError(f"the password is too short; give at least {PASSWORD_MIN} characters")
    if password != password.strip() or "\n" in password:
        raise IngestdError("the password starts or ends with a space or holds a line break; "
                           "give it without")
    return _HASHER.hash(password)


def _view(user: AppUser) -> UserView:
    return UserView(name=user.name, email=user.email, role=user.role, disabled=user.disabled)
