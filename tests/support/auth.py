"""The API keys tests use: an admin key seeded through SLUICE_ADMIN_KEY, sent by default.

Every endpoint but /healthz and /readyz needs a key, so every test client carries this one
unless a test is about authentication itself.
"""

from __future__ import annotations

ADMIN_KEY = "sk_test_admin_0123456789abcdefghijklmnopqrstuv"
AUTH_HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}
