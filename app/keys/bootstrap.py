"""Keys at start: seed SLUICE_ADMIN_KEY, or give a brand-new local install its first key.

The quick start must work without reading a manual first, yet no endpoint may be open: so
with the embedded database and no key at all, the first start creates an admin key, prints
it once, and leaves it in the data folder (mode 0600) where its owner can read it again.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from app.keys.scopes import ADMIN
from app.keys.store import KeyStore

log = logging.getLogger("sluice.keys")

KEY_FILE = "admin.key"


async def prepare_keys(
    store: KeyStore, *, admin_key: str | None, first_start_in: Path | None
) -> None:
    """Seed ``admin_key``; or, with none and no key at all, create one and leave it in
    ``first_start_in`` (a local install's data folder; None: never)."""
    if admin_key:
        seeded = await store.seed("admin (SLUICE_ADMIN_KEY)", (ADMIN,), admin_key)
        if seeded is None:
            log.warning(
                "SLUICE_ADMIN_KEY holds a key that was revoked: it stays revoked. Put a new"
                " key there (any sk_… of 20-200 characters), or unset it and use another admin"
                " key."
            )
        return
    if await store.any_active():
        return
    if first_start_in is None:
        log.warning(
            "no API key exists: every request will be refused with 401. Make one with"
            " `sluice keys create --name admin --scopes admin` (same DATABASE_URL), or set"
            " SLUICE_ADMIN_KEY=sk_… and restart"
        )
        return
    _, key = await store.create("admin (first start)", (ADMIN,), origin="first-start")
    print(banner(key, write_key_file(first_start_in, key)), flush=True)


def banner(key: str, path: Path) -> str:
    """The first key, framed so it stands out among the log lines around it."""
    lines = [
        "sluice: created an admin API key. It is shown this once (also kept in",
        f"        {path}, mode 0600):",
        "",
        f"    {key}",
        "",
        f"send it as: Authorization: Bearer {key}",
    ]
    rule = "=" * max(len(line) for line in lines)
    return "\n".join(["", rule, *lines, rule, ""])


def write_key_file(data_dir: Path, key: str) -> Path:
    return write_secret(data_dir / KEY_FILE, key)


def write_secret(path: Path, content: str) -> Path:
    """``content`` in a file only its owner may read (its folder made if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(content + "\n")
    os.chmod(path, 0o600)  # an older file may have had looser bits
    return path
