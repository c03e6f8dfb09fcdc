"""`/docs`: the API described from its own OpenAPI document, as a page of Loupe's own.

FastAPI's Swagger UI and ReDoc pages load their scripts, styles and fonts from a CDN: offline
they were blank, online they told third parties of every visit, and under the
Content-Security-Policy (no other origin, nothing inline) they are blank everywhere. This page
reads the same document (``request.app.openapi()``, the one ``/openapi.json`` serves, with
app.web.schemas' error answers and setting bounds) and renders it on the server: no script,
nothing from another host, readable on a phone and printable. ``/redoc`` redirects here.

The document is turned into plain view objects (``ApiDocs``) here; the template only lays
them out. Types are said in words ("integer 1–200", "list of string, at most 50"); the
errors every route may answer (app.web.schemas.ERRORS) are explained once, and each operation
lists only their status codes beside the answers peculiar to it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from app.catalog.schema import BY_NAME
from app.web.errors import dataset_for_page
from app.web.render import render
from app.web.schemas import BLANK, ERRORS

router = APIRouter(tags=["docs"])

# What each group of operations is for (the routers' tags, in app/web/*.py).
TAG_INTROS: dict[str, str] = {
    "pages": "The pages people use; each answers HTML, or the changed part of it for htmx.",
    "api": "JSON twins of the pages: the same parameters, the same records, as JSON.",
    "images": "A record's picture, re-encoded; hidden records are never fetched or decoded.",
    "accounts": "Signing in and out (reviewers and admins).",
    "review": "Flags, the review queue and its decisions, removal lists (reviewers, admins).",
    "export": "The records under the filters as a file, streamed.",
    "search": "Search by an uploaded picture or by an embedding you computed.",
    "lab": "The threshold lab: what LAION's model thresholds keep and drop.",
    "docs": "This page.",
}
TAG_TITLES: dict[str, str] = {"api": "JSON API"}
METHOD_ORDER = ("get", "post", "put", "patch", "delete")
# A query parameter that several operations take alike (the dataset, the filters, paging) is
# described once, in "Shared parameters", and named with a link where it is taken: the grid's
# 19 filters would otherwise fill the page 20 times over (262 KB of HTML, most of it repeats).
SHARED_AT_LEAST = 3


@dataclass(frozen=True)
class TypeText:
    """A schema said in words, and the named schemas it refers to (linked on the page)."""

    text: str
    refs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Field_:
    name: str
    type: TypeText
    required: bool
    default: str | None
    description: str
    where: str = ""  # a parameter's place: query, path, header, cookie


@dataclass(frozen=True)
class Body:
    media_types: tuple[str, ...]
    type: TypeText
    fields: tuple[Field_, ...]  # the body's fields when it is an object (a form, a JSON body)
    required: bool


@dataclass(frozen=True)
class Answer:
    status: str
    description: str
    media_types: tuple[str, ...]
    type: TypeText | None


@dataclass(frozen=True)
class Operation:
    anchor: str
    method: str
    path: str
    summary: str
    description: str
    tags: tuple[str, ...]
    parameters: tuple[Field_, ...]  # its own (not shared) parameters
    shared: tuple[str, ...]  # the shared parameters it takes, by name
    body: Body | None
    answers: tuple[Answer, ...]  # the answers peculiar to this operation
    common_errors: tuple[str, ...]  # statuses explained once, in ApiDocs.errors


@dataclass(frozen=True)
class Group:
    tag: str
    title: str
    intro: str
    operations: tuple[Operation, ...]


@dataclass(frozen=True)
class Schema:
    name: str
    description: str
    type: TypeText
    fields: tuple[Field_, ...]


@dataclass
class ApiDocs:
    title: str
    version: str
    summary: str
    openapi: str
    groups: list[Group] = field(default_factory=list)
    shared_parameters: list[Field_] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    schemas: list[Schema] = field(default_factory=list)

    @property
    def operation_count(self) -> int:
        return sum(len(g.operations) for g in self.groups)


# --- schemas in words ----------------------------------------------------------------------------

REF_PREFIX = "#/components/schemas/"


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) and abs(value) >= 10_000 else str(value)


def _bounds(low: Any, high: Any, unit: str = "") -> str:
    unit = f" {unit}" if unit else ""
    if low is not None and high is not None:
        return f"{_number(low)}–{_number(high)}{unit}"
    if low is not None:
        return f"at least {_number(low)}{unit}"
    if high is not None:
        return f"at most {_number(high)}{unit}"
    return ""


def _is_blank_option(option: dict[str, Any]) -> bool:
    """app.web.schemas' "blank is the same as absent" alternative (said once on the page)."""
    return option.get("pattern") == BLANK["pattern"] and option.get("type") == "string"


def type_text(schema: dict[str, Any] | None) -> TypeText:
    """``schema`` in a few words: its type, bounds, pattern or choices, and the named
    schemas it refers to."""
    if not schema:
        return TypeText("any")
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(REF_PREFIX):
        name = ref[len(REF_PREFIX) :]
        return TypeText(name, (name,))
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        kept = [o for o in options if o.get("type") != "null" and not _is_blank_option(o)]
        nullable = len(kept) < len(options) and any(o.get("type") == "null" for o in options)
        parts = [type_text(o) for o in kept] or [TypeText("null")]
        text = " or ".join(p.text for p in parts)
        if nullable and kept:
            text += " or null"
        return TypeText(text, tuple(r for p in parts for r in p.refs))
    if "enum" in schema:
        return TypeText("one of: " + ", ".join(str(v) for v in schema["enum"]))
    if "const" in schema:
        return TypeText(f"exactly {schema['const']}")
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "binary" or "contentMediaType" in schema:
            return TypeText("a file")
        words = ["string"]
        length = _bounds(schema.get("minLength"), schema.get("maxLength"), "characters")
        if length:
            words.append(length)
        if schema.get("format"):
            words.append(f"format {schema['format']}")
        if schema.get("pattern"):
            words.append(f"matching {schema['pattern']}")
        return TypeText(", ".join(words))
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        bounds = _bounds(low, high)
        return TypeText(f"{kind} {bounds}" if bounds else kind)
    if kind == "boolean":
        return TypeText("boolean (true or false)")
    if kind == "array":
        items = type_text(schema.get("items"))
        count = _bounds(schema.get("minItems"), schema.get("maxItems"), "items")
        text = f"list of {items.text}" + (f" ({count})" if count else "")
        return TypeText(text, items.refs)
    if kind == "object" or "properties" in schema or "additionalProperties" in schema:
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and not schema.get("properties"):
            values = type_text(extra)
            return TypeText(f"map of string to {values.text}", values.refs)
        return TypeText("object")
    return TypeText(str(kind) if kind else "any")


def _default(schema: dict[str, Any]) -> str | None:
    if "default" not in schema:
        return None
    value = schema["default"]
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == "" or value == []:
        return "empty"
    return str(value)


def _fields(schema: dict[str, Any]) -> tuple[Field_, ...]:
    required = set(schema.get("required", []))
    return tuple(
        Field_(
            name=name,
            type=type_text(prop),
            required=name in required,
            default=_default(prop),
            description=prop.get("description", ""),
        )
        for name, prop in schema.get("properties", {}).items()
    )


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    if isinstance(ref, str) and ref.startswith(REF_PREFIX):
        return components.get(ref[len(REF_PREFIX) :], {})
    return schema


def _is_form_body(name: str) -> bool:
    """FastAPI names a route's form or multipart body ``Body_<operation id>``: it belongs
    to that one operation, so its fields are shown there, not as a schema of its own."""
    return name.startswith("Body_")


# --- the document in view objects ---------------------------------------------------------------


def column_description(name: str) -> str:
    """What a filter parameter on a known column does, for parameters the document leaves
    undescribed (the score bounds, sizes, domain and licence), said from the column's own
    meaning (app.catalog.schema: the list of columns is defined once)."""
    for prefix, suffix, relation in (("", "_min", "≥"), ("", "_max", "≤"), ("min_", "", "≥")):
        stem = name[len(prefix) : len(name) - len(suffix)]
        if name.startswith(prefix) and name.endswith(suffix) and stem != name:
            column = BY_NAME.get(stem)
            if column is not None:
                return f"Only records with {column.label} {relation} this. {column.meaning}"
    column = BY_NAME.get(name)
    if column is not None and column.kind in ("text", "category"):
        return f"Only records whose {column.label} is exactly this. {column.meaning}"
    return ""


def _parameter(param: dict[str, Any]) -> Field_:
    schema = param.get("schema", {})
    name = param.get("name", "")
    described = param.get("description") or schema.get("description", "")
    return Field_(
        name=name,
        type=type_text(schema),
        required=bool(param.get("required")),
        default=_default(schema),
        description=described or (column_description(name) if param.get("in") == "query" else ""),
        where=param.get("in", ""),
    )


def _body(operation: dict[str, Any], components: dict[str, Any]) -> Body | None:
    body = operation.get("requestBody")
    if not body:
        return None
    content = body.get("content", {})
    schema = next(iter(content.values()), {}).get("schema", {})
    resolved = _resolve(schema, components)
    ref = schema.get("$ref", "")
    named = ref[len(REF_PREFIX) :] if ref.startswith(REF_PREFIX) else ""
    shown = TypeText("form fields") if named and _is_form_body(named) else type_text(schema)
    return Body(
        media_types=tuple(content),
        type=shown,
        fields=_fields(resolved),
        required=bool(body.get("required")),
    )


def _answers(
    operation: dict[str, Any],
) -> tuple[tuple[Answer, ...], tuple[str, ...]]:
    answers: list[Answer] = []
    common: list[str] = []
    for status, answer in sorted(operation.get("responses", {}).items()):
        description = answer.get("description", "")
        if status.isdigit() and ERRORS.get(int(status)) == description:
            common.append(status)  # the app-wide error, explained once on the page
            continue
        content = answer.get("content", {})
        schemas = [c.get("schema") for c in content.values() if c.get("schema")]
        answers.append(
            Answer(
                status=status,
                description=description,
                media_types=tuple(content),
                type=type_text(schemas[0]) if schemas and schemas[0] else None,
            )
        )
    return tuple(answers), tuple(common)


def _signature(param: dict[str, Any]) -> str:
    parts = [param.get(key) for key in ("in", "required", "schema", "description")]
    return json.dumps(parts, sort_keys=True)


def _shared_parameters(paths: dict[str, Any]) -> dict[str, str]:
    """Query parameters taken alike by at least SHARED_AT_LEAST operations: name ->
    signature (the most common form of that name, when it is common enough)."""
    seen: Counter[tuple[str, str]] = Counter()
    for methods in paths.values():
        for operation in methods.values():
            if not isinstance(operation, dict):
                continue
            for param in operation.get("parameters", []):
                if param.get("in") == "query":
                    seen[(param.get("name", ""), _signature(param))] += 1
    shared: dict[str, str] = {}
    for (name, signature), count in seen.most_common():
        if count >= SHARED_AT_LEAST and name not in shared:
            shared[name] = signature
    return shared


def build_docs(document: dict[str, Any]) -> ApiDocs:
    """The view of an OpenAPI document this page shows."""
    info = document.get("info", {})
    components = document.get("components", {}).get("schemas", {})
    docs = ApiDocs(
        title=info.get("title", "API"),
        version=str(info.get("version", "")),
        summary=info.get("summary") or info.get("description") or "",
        openapi=str(document.get("openapi", "")),
    )
    paths = document.get("paths", {})
    shared = _shared_parameters(paths)
    shared_fields: dict[str, Field_] = {}
    by_tag: dict[str, list[Operation]] = {}
    for path, methods in paths.items():
        for method in sorted(methods, key=lambda m: (METHOD_ORDER + (m,)).index(m)):
            operation = methods[method]
            if not isinstance(operation, dict):
                continue
            tags = tuple(operation.get("tags") or ["other"])
            answers, common = _answers(operation)
            own: list[Field_] = []
            taken: list[str] = []
            for param in operation.get("parameters", []):
                name = param.get("name", "")
                if shared.get(name) == _signature(param) and param.get("in") == "query":
                    taken.append(name)
                    shared_fields.setdefault(name, _parameter(param))
                else:
                    own.append(_parameter(param))
            op = Operation(
                anchor=operation.get("operationId") or f"{method}-{path}",
                method=method.upper(),
                path=path,
                summary=operation.get("summary", ""),
                description=operation.get("description", ""),
                tags=tags,
                parameters=tuple(own),
                shared=tuple(taken),
                body=_body(operation, components),
                answers=answers,
                common_errors=common,
            )
            by_tag.setdefault(tags[0], []).append(op)
    docs.groups = [
        Group(
            tag=tag,
            title=TAG_TITLES.get(tag, tag.capitalize()),
            intro=TAG_INTROS.get(tag, ""),
            operations=tuple(ops),
        )
        for tag, ops in by_tag.items()
    ]
    docs.shared_parameters = list(shared_fields.values())
    docs.errors = [(str(status), text) for status, text in sorted(ERRORS.items())]
    docs.schemas = [
        Schema(
            name=name,
            description=schema.get("description", ""),
            type=type_text({k: v for k, v in schema.items() if k != "properties"}),
            fields=_fields(schema),
        )
        for name, schema in sorted(components.items())
        if not _is_form_body(name)
    ]
    return docs


def _docs_of(request: Request) -> ApiDocs:
    """The view of the app's document, made once per document (app.web.schemas.install
    builds the document once per change of the routes)."""
    document = request.app.openapi()
    cached = getattr(request.app.state, "api_docs", None)
    if cached is not None and cached[0] is document:
        return cached[1]
    docs = build_docs(document)
    request.app.state.api_docs = (document, docs)
    return docs


@router.get("/docs", summary="The API described: every operation, its parameters and answers")
async def api_docs_page(request: Request):
    return render(
        request,
        "pages/api_docs.html",
        {"docs": _docs_of(request), **dataset_for_page(request)},
    )


@router.get("/redoc", include_in_schema=False)
async def redoc() -> RedirectResponse:
    """FastAPI's ReDoc page loaded its script from a CDN; the one API page is /docs."""
    return RedirectResponse("/docs", status_code=308)
