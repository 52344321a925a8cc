"""Server-side sessions (factor VI): what both frameworks' adapters share.

The cookie holds only an id this service issued. A cookie of any other shape is
ignored, and an id with no record is replaced by a new random one, never adopted, so a
client can never choose the key its session lives under. Records are JSON objects: a
record planted in Redis can at worst be discarded, never run as code.
"""

import json
import re
import secrets
from collections.abc import Iterator, MutableMapping
from http.cookies import SimpleCookie
from typing import Any

import structlog

from ..settings import SERVICE_NAME, Settings

# Namespaced, so services sharing one Redis never read each other's sessions.
SESSION_KEY_PREFIX = f"{SERVICE_NAME}:session:"
# 32 random bytes in URL-safe base64, unpadded: always 43 characters of this alphabet.
_SESSION_ID_BYTES = 32
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")
# Answers that depend on a session must never be stored by a shared cache.
PRIVATE_RESPONSE_HEADERS = (("Cache-Control", "no-store"), ("Vary", "Cookie"))

logger = structlog.get_logger(__name__)


def session_cookie_name(settings: Settings) -> str:
    # Per service, so two services on one host keep their own cookies. In production
    # the __Host- prefix makes browsers refuse the cookie unless it is Secure, for
    # Path=/ and without Domain: no other host or path can set or shadow it.
    name = f"{SERVICE_NAME}-session"
    return f"__Host-{name}" if settings.is_production else name


def issued_session_id(cookie_value: str | None) -> str | None:
    """The cookie's value if it has the shape of an id this service issues."""
    if cookie_value is not None and _SESSION_ID.fullmatch(cookie_value):
        return cookie_value
    return None


def session_key(session_id: str) -> str:
    return SESSION_KEY_PREFIX + session_id


def decode_record(record: bytes | str) -> dict[str, Any] | None:
    """A stored record's data, or None (logged once) when it is not a JSON object."""
    try:
        data = json.loads(record)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        logger.warning("session record discarded: not a JSON object")
        return None
    return data


class Session(MutableMapping[str, Any]):
    """One client's session data, tracking whether it was read or changed.

    `id` is None until the session is first stored: a new one is issued then.
    """

    def __init__(
        self, session_id: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        self.id = session_id
        self._data = data or {}
        self._retired_ids: list[str] = []
        self.accessed = False
        self.modified = False

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        self.accessed = True
        return iter(self._data)

    def __len__(self) -> int:
        self.accessed = True
        return len(self._data)

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self.accessed = self.modified = True

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self.accessed = self.modified = True

    def clear(self) -> None:
        """Forget everything: the record is deleted and the cookie expired."""
        self._data.clear()
        self.accessed = self.modified = True

    def regenerate_id(self) -> None:
        """Store the data under a new id from now on, and delete the old record."""
        if self.id is not None:
            self._retired_ids.append(self.id)
        self.id = None
        self.accessed = self.modified = True

    def changes(self) -> tuple[list[str], tuple[str, bytes] | None]:
        """The keys to delete and the record to write when the response goes out.

        Nothing when the session was only read: a read never costs a Redis write.
        """
        if not self.modified:
            return [], None
        deleted = [session_key(retired) for retired in self._retired_ids]
        if not self._data:
            if self.id is not None:
                deleted.append(session_key(self.id))
                self._retired_ids.append(self.id)
                self.id = None
            return deleted, None
        if self.id is None:
            self.id = secrets.token_urlsafe(_SESSION_ID_BYTES)
        record = json.dumps(self._data, separators=(",", ":")).encode()
        return deleted, (session_key(self.id), record)

    def response_headers(self, settings: Settings) -> list[tuple[str, str]]:
        """Headers for the response, once `changes()` has been applied."""
        if not self.accessed:
            return []
        headers = list(PRIVATE_RESPONSE_HEADERS)
        if self.modified and self.id is not None:
            headers.append(_set_cookie(settings, self.id, settings.session_ttl_seconds))
        elif self.modified and self._retired_ids:
            headers.append(_set_cookie(settings, "", 0))
        return headers


def _set_cookie(settings: Settings, value: str, max_age: int) -> tuple[str, str]:
    cookies: SimpleCookie = SimpleCookie()
    name = session_cookie_name(settings)
    cookies[name] = value
    cookie = cookies[name]
    cookie["path"] = "/"
    cookie["max-age"] = max_age
    cookie["httponly"] = True
    cookie["samesite"] = "Lax"
    cookie["secure"] = settings.is_production
    return "Set-Cookie", cookie.OutputString()
