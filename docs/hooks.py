"""MkDocs hooks: the pages that are generated, so they cannot drift from the code.

* ``<!-- settings -->`` becomes the table of every setting, from the settings model (and the
  sample services' own settings);
* ``<!-- metrics -->`` the table of every metric, from the metrics registry;
* ``<!-- http-api -->`` the HTTP API's operations, from ``openapi/openapi.json``;
* ``<!-- streams -->`` the WebSocket stream's protocol, from ``openapi/asyncapi.yaml``.

The API reference's full page (ReDoc, from the ``fastapi-offline`` wheel the service itself
serves ``/redoc`` from) and the two documents are files of the site, so no page loads
anything from another host.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from mkdocs.structure.files import File, Files
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[1]
OPENAPI = ROOT / "openapi" / "openapi.json"
ASYNCAPI = ROOT / "openapi" / "asyncapi.yaml"


def on_page_markdown(markdown: str, **_: Any) -> str:
    for marker, make in (
        ("<!-- settings -->", settings_table),
        ("<!-- metrics -->", metrics_table),
        ("<!-- http-api -->", http_api),
        ("<!-- streams -->", streams),
    ):
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown


def on_files(files: Files, config: Any) -> Files:
    """The API reference's full page and the two documents, added to the site as files of
    its own (ReDoc's script from the ``fastapi-offline`` wheel, as ``/redoc`` serves it)."""
    redoc_js = (resources.files("fastapi_offline") / "static" / "redoc.standalone.js").read_text()
    for path, content in (
        ("reference/redoc.html", REDOC),
        ("reference/assets/redoc.standalone.js", redoc_js),
        ("reference/openapi.json", OPENAPI.read_text()),
        ("reference/asyncapi.yaml", ASYNCAPI.read_text()),
    ):
        files.append(File.generated(config, path, content=content))
    return files


REDOC = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Sluice — HTTP API reference</title>
  <link rel="icon" href="../assets/images/favicon.png">
  <!-- ReDoc would fetch its logo from its CDN: nothing leaves this site. -->
  <meta http-equiv="Content-Security-Policy" content="default-src 'self'; img-src 'self' data:;
    style-src 'self' 'unsafe-inline'; worker-src 'self' blob:; script-src 'self'">
</head>
<body>
  <redoc spec-url="openapi.json"></redoc>
  <script src="assets/redoc.standalone.js"></script>
</body>
</html>
"""


# -- settings -------------------------------------------------------------------------------------
def settings_table() -> str:
    from app.services.outreach.settings import OutreachSettings
    from app.services.ward.settings import WardSettings
    from app.settings import Settings, documented

    rows = ["| variable | default | what |", "|---|---|---|"]
    rows += [_setting_row(name, info) for name, info in documented()]
    for label, model in (("ward", WardSettings), ("outreach", OutreachSettings)):
        prefix = model.model_config.get("env_prefix", "")
        for attribute, info in model.model_fields.items():
            name = f"{prefix}{attribute}".upper()
            rows.append(_setting_row(name, info, f"({label} sample) "))
    assert Settings  # imported for its side effect: the groups are declared
    return "\n".join(rows)


def _setting_row(name: str, info: FieldInfo, note: str = "") -> str:
    default = info.default
    if default is PydanticUndefined:
        shown = "required"
    elif default is None or default == "":
        shown = "unset"
    else:
        shown = f"`{_text(default)}`"
    description = (info.description or "").replace("|", "\\|").replace("\n", " ")
    return f"| `{name}` | {shown} | {note}{description} |"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict | list | tuple | set | frozenset):
        return json.dumps(value if not isinstance(value, set | frozenset) else sorted(value))
    return str(value).replace("|", "\\|")


# -- metrics --------------------------------------------------------------------------------------
def metrics_table() -> str:
    from app.observe.metrics import Metrics
    from app.observe.readings import ConsumerLag, Reading, Readings
    from app.services.ward import service

    metrics = Metrics(service)
    rows = ["| metric | type | labels | what |", "|---|---|---|---|"]
    for collector in metrics.registry._collector_to_names:
        name = getattr(collector, "_name", None)
        if name is None:
            continue
        kind = getattr(collector, "_type", "")
        suffix = "_total" if kind == "counter" else ""
        labels = ", ".join(f"`{label}`" for label in collector._labelnames)
        rows.append(f"| `{name}{suffix}` | {kind} | {labels} | {collector._documentation} |")
    shared = Readings()
    shared.snapshot = Reading(
        pool={"pool_size": 1, "pool_available": 1, "requests_waiting": 0},
        database_up=True,
        consumers=(ConsumerLag("a-view", "view", 0, 0.0),),
        workflows=(("a-workflow", "running", 0),),  # only a service with workflows has it
    )
    for family in shared.collect():
        labels = sorted({label for sample in family.samples for label in sample.labels})
        shown = ", ".join(f"`{label}`" for label in labels)
        suffix = "_total" if family.type == "counter" else ""
        rows.append(
            f"| `{family.name}{suffix}` | {family.type} | {shown} | *read when scraped:*"
            f" {family.documentation} |"
        )
    return "\n".join(rows)


# -- the HTTP API ---------------------------------------------------------------------------------
def http_api() -> str:
    document = json.loads(OPENAPI.read_text())
    sections: dict[str, list[str]] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            tag = (operation.get("tags") or ["other"])[0]
            scopes = [s for need in operation.get("security", []) for s in need.get("apiKey", [])]
            needs = ", ".join(f"`{scope}`" for scope in scopes) or "none"
            summary = (operation.get("summary") or "").replace("|", "\\|")
            line = f"| `{method.upper()} {path}` | {summary} | {needs} |"
            sections.setdefault(tag, []).append(line)
    out = []
    for tag, lines in sections.items():
        out += [f"## {tag}", "", "| operation | what | key scope |", "|---|---|---|", *lines, ""]
    return "\n".join(out)


# -- the event stream -----------------------------------------------------------------------------
def streams() -> str:
    document = yaml.safe_load(ASYNCAPI.read_text())
    out = [document["info"].get("description", "").strip(), ""]
    for name, channel in document.get("channels", {}).items():
        out += [f"## Channel `{channel.get('address', name)}`", ""]
        query = channel.get("bindings", {}).get("ws", {}).get("query", {})
        properties = query.get("properties", {})
        if properties:
            out += ["| query parameter | type | what |", "|---|---|---|"]
            for parameter, schema in properties.items():
                kind = schema.get("type", "")
                if kind == "array":
                    kind = f"array of {schema.get('items', {}).get('type', '')}"
                text = (schema.get("description") or "").replace("|", "\\|").replace("\n", " ")
                out.append(f"| `{parameter}` | {kind} | {text} |")
            out.append("")
        for message_name in channel.get("messages", {}):
            out.append(f"- message `{message_name}`")
        out.append("")
    operations = document.get("operations", {})
    if operations:
        out += ["## Operations", "", "| operation | action | what |", "|---|---|---|"]
        for name, operation in operations.items():
            text = (operation.get("summary") or operation.get("description") or "").strip()
            text = text.replace("|", "\\|").replace("\n", " ")
            out.append(f"| `{name}` | {operation.get('action', '')} | {text} |")
    return "\n".join(out)
