"""Every documented operation, fuzzed against the running app (schemathesis).

The schema is the server's own /openapi.json, so what is checked is what clients are promised:
no 5xx, every status one the operation documents, every body matching the schema and content
type documented for its status, schema-valid input accepted and invalid input refused with a
4xx — all of schemathesis's checks. Examples per operation are bounded to keep CI within its
budget, and generation is derandomized so a failure reproduces.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis import Case, GenerationMode
from schemathesis.hooks import HookContext, HookDispatcher, HookScope

from app.journal.routes import IF_MATCH_PATTERN
from app.settings import Settings
from app.webhooks import urlguard
from tests.support.auth import ADMIN_KEY
from tests.support.servers import uvicorn_in_thread

pytestmark = [
    # Hypothesis warns when the global `random` moves while it draws; here that is the
    # server's thread (webhook retry jitter) beside it, not a strategy, and the fuzzer's own
    # draws are seeded apart from it.
    pytest.mark.filterwarnings(
        "ignore:Do not use the `random` module inside strategies"
        ":hypothesis.errors.HypothesisDeprecationWarning"
    ),
    # Every operation runs inside this one test (~50 s on 2 idle cores): room for a busy box.
    pytest.mark.timeout(300),
]

EXAMPLES_PER_OPERATION = 15
SEED = 20240607

# Statuses a schema-valid request may still get, where the app checks what no schema can say.
POLICY_REFUSALS = [
    # A webhook URL must also pass the deployment's SSRF policy (https only, public addresses,
    # a name that resolves): a documented 422 forbidden-url.
    {"include-operation-id": ["create_webhook", "update_webhook"], "status": "422"},
    # A stream's cursor must not be past the producer's head, which no schema knows: a
    # documented 400 cursor-ahead.
    {"include-operation-id": ["read_stream_alerts"], "status": "400"},
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        admin_key=ADMIN_KEY,
        # Generated URLs use plain http; the resolver below keeps them on this box.
        webhook_allow_private=True,
        # A delivery to a generated URL fails fast and gives up after one retry.
        webhook_timeout_seconds=0.5,
        webhook_retry_schedule="0.1",
        # ?consistent_with= an event no view has applied answers 503 without a long wait.
        view_consistency_timeout_seconds=0.2,
    )


async def _this_box(host: str, port: int) -> list[urlguard.IPAddress]:
    """Every host the fuzzer names is this box: no DNS query and no delivery leaves it (with
    private targets allowed, the guard checks nothing but the URL's form)."""
    return [ipaddress.ip_address("127.0.0.1")]


@pytest.fixture
def api_schema(
    request: pytest.FixtureRequest, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> Iterator[schemathesis.BaseSchema]:
    if not hasattr(request.node, "_nodeid"):
        # schemathesis 4.32's from_fixture renames the test item through `_nodeid`, an
        # attribute pytest 9.2 dropped (nodeid is derived now); give it one to write to.
        request.node._nodeid = request.node.nodeid
    monkeypatch.setattr(urlguard, "_addresses", _this_box)
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # Sent where the document asks for the key; ignored_auth also tries without it.
            "auth": {"openapi": {"apiKey": {"bearer": ADMIN_KEY}}},
            "generation": {"max-examples": EXAMPLES_PER_OPERATION, "deterministic": True},
            "operations": [_allowing(**refusal) for refusal in POLICY_REFUSALS]
            + [
                {
                    # GET /views/{view}/{key} answers this URL too (a row keyed "rebuild"),
                    # so its Allow rightly lists GET beside the documented POST.
                    "include-operation-id-regex": r"\.rebuild$",
                    "checks": {"allow_header_conformance": {"enabled": False}},
                }
            ],
        }
    )
    with uvicorn_in_thread(app) as base_url:
        yield schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)


def _allowing(*, status: str, **operations: object) -> dict[str, object]:
    default = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]  # schemathesis's own
    accepted = [*default, status]
    return {
        **operations,
        "checks": {"positive_data_acceptance": {"expected-statuses": accepted}},
    }


def filter_case(context: HookContext, case: Case) -> bool:
    """schemathesis 4.32's coverage phase sends ``If-Match: 0`` as a *valid* value (a header
    pattern that needs a character beyond letters and digits gets a placeholder), and the
    400 that earns is then reported as valid input refused. Such cases test nothing."""
    if_match = (case.headers or {}).get("If-Match")
    valid = if_match is None or re.fullmatch(IF_MATCH_PATTERN, if_match) is not None
    return valid or _negative(case)


_fresh_keys = itertools.count()


def map_case(context: HookContext, case: Case) -> Case:
    """A client sends a new Idempotency-Key with each new request; the generator repeats the
    few short ones it likes ("0") across bodies, which the API rightly refuses (a 422)."""
    key = (case.headers or {}).get("Idempotency-Key")
    if key is not None and not _negative(case):
        case.headers["Idempotency-Key"] = f"{key[:200]}-{next(_fresh_keys)}"
    return case


def _negative(case: Case) -> bool:
    return case.meta is not None and case.meta.generation.mode is GenerationMode.NEGATIVE


schema = schemathesis.pytest.from_fixture("api_schema")
hooks = HookDispatcher(scope=HookScope.TEST)


@schema.parametrize()
@hooks.apply(filter_case)
@hooks.apply(map_case)
def test_every_operation_keeps_its_documented_contract(case: Case) -> None:
    case.call_and_validate()
