"""Secrets from the environment, with generated development files as the fallback.

In production every secret comes from the environment (or a file it names). On a
developer's machine nothing needs setting: the first process that needs a secret writes one
to ``data/`` (or ``$SAGA_DATA_DIR``; readable by this user only) and every later process on
the machine reads the same file, so workers, the CLI and the demo agree.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

DATA_DIR = Path(os.environ.get("SAGA_DATA_DIR") or Path(__file__).resolve().parent.parent / "data")
"""Where development secrets are generated: ``SAGA_DATA_DIR``, else ``data/`` here."""
ID_SECRET_VAR = "SAGA_ID_SECRET"
ID_DIGEST_CHARS = 20


def development_file(path: Path, content: Callable[[], str]) -> Path:
    """``path``, created with ``content()`` (mode 0600) when missing; another process may
    race us to it, and then its file wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(f"# generated {datetime.now(UTC):%Y-%m-%d} for development; see README\n")
        out.write(content() + "\n")
    return path


@functools.cache
def id_secret() -> bytes:
    """The key of workflow-id digests: ``SAGA_ID_SECRET``, else ``data/id.secret``."""
    value = os.environ.get(ID_SECRET_VAR, "")
    if not value:
        path = development_file(DATA_DIR / "id.secret", lambda: secrets.token_urlsafe(32))
        lines = path.read_text(encoding="utf-8").splitlines()
        value = next(line for line in lines if line and not line.startswith("#"))
    return value.strip().encode()


def token_in(path: Path) -> str:
    """The bearer token in file ``path`` (its first line that is not a comment), created
    with a random one when missing: a container reads the token a volume holds, and an
    operator reads it from there."""
    development_file(path, lambda: secrets.token_urlsafe(32))
    lines = path.read_text(encoding="utf-8").splitlines()
    token = next((line.strip() for line in lines if line.strip() and not line.startswith("#")), "")
    if not token:
        raise ValueError(f"{path}: holds no token")
    return token


def keyed_digest(text: str) -> str:
    """A workflow id's digest of ``text``: HMAC-SHA256 under :func:`id_secret`, so nobody
    without the secret can compute a customer's id from what they know about them."""
    return hmac.new(id_secret(), text.encode(), hashlib.sha256).hexdigest()[:ID_DIGEST_CHARS]
