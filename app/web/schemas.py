"""What the API says about itself: response models, error answers, and the OpenAPI document.

The document at ``/openapi.json`` must describe what the server really does
(``tests/web/test_openapi_conformance.py`` runs schemathesis against it). Three conventions
keep it so; a new route follows them (see docs/api.md):

- **JSON routes** (under ``/api/``) name a response model from here, ``response_model=...``:
  FastAPI documents it and checks each answer against it.
- **Pages** (everything outside ``/api/``) answer HTML: a route there that declares no
  response is documented as ``text/html`` (``_describe_page``), and a form's POST as maybe
  answering 303 (post/redirect/get). A route there that answers anything else (a file, an
  image, JSON) declares it: ``response_class=...`` and ``responses={200: {"content": ...}}``.
- **Errors are documented here, once, for every route** (``install``): the app-wide guard
  (sign-in, roles, CSRF), request validation, unknown datasets and records, query time-outs
  and the body-size limit can answer any route with a 4xx or 503, always shaped as
  ``ErrorBody`` in JSON — and, outside ``/api/``, as an HTML error page unless the client
  asks for JSON (``app.web.errors.wants_json``). A route adds only the statuses peculiar to
  it (429 on the sign-in form, 304 on images).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from app.catalog.schema import BY_NAME, COLUMNS, ColumnKind
from app.config import Settings
from app.review.db import Category, FlagStatus

# --- errors ------------------------------------------------------------------------------------


class FieldError(BaseModel):
    field: str = Field(description="The parameter or form field, e.g. `size` or `picture`.")
    message: str


class ErrorBody(BaseModel):
    """Every error the server answers in JSON (app.web.errors)."""

    detail: str = Field(description="One sentence that says what was wrong and what to do.")
    errors: list[FieldError] | None = Field(
        None, description="422 only: each refused parameter and why."
    )


# The statuses any route may answer, and why (app.web.errors, app.web.identity,
# app.web.middleware). 413 is added to routes that take a request body.
ERRORS: dict[int, str] = {
    400: "Bad input the schema cannot express (a page size above the server's cap, a page "
    "deeper than the offset limit, an upload that is not an image, ...).",
    401: "Sign in first (LOUPE_REQUIRE_LOGIN, or a reviewer's route).",
    403: "Not allowed: the role is too low, or a state-changing request came without its "
    "CSRF token.",
    404: "No such dataset, record or flag (hidden records are not found either).",
    409: "Not possible in the current state (search by meaning without embeddings, a flag "
    "already decided).",
    422: "A parameter failed validation; `errors` names each one.",
    503: "A query ran past its time limit, or a model or blocklist is unavailable: try again "
    "with narrower filters or later.",
}
BODY_ERRORS: dict[int, str] = {413: "The request body is larger than the server accepts."}
HTML_ERROR = {"schema": {"type": "string", "description": "An HTML error page."}}


def error_content(path: str) -> dict[str, Any]:
    json_error = {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
    if path.startswith("/api/"):
        return {"application/json": json_error}
    # A page answers errors as a page, or as JSON when the client asks for it.
    return {"application/json": json_error, "text/html": HTML_ERROR}


# --- records -----------------------------------------------------------------------------------

_KIND_TYPES: dict[ColumnKind, Any] = {
    "id": str,
    "text": str,
    "url": str,
    "int": int,
    "float": float,
    "category": str,
    "hash": str,
}


def _column_fields() -> dict[str, Any]:
    """One field per known column (app.catalog.schema.COLUMNS: the list is defined once)."""
    fields: dict[str, Any] = {}
    for column in COLUMNS:
        if column.name in ("pos", "sample_id"):  # every row has these two
            annotation, default = (int if column.name == "pos" else str), ...
        else:  # a source may lack any other column
            annotation, default = _KIND_TYPES[column.kind] | None, None
        fields[column.name] = (annotation, Field(default, description=column.meaning))
    return fields


RecordColumns = create_model(
    "RecordColumns",
    __config__=ConfigDict(extra="allow"),
    __doc__="A record's known columns; a dataset's extra source columns come as more keys.",
    **_column_fields(),
)


class ListedRecord(RecordColumns):  # type: ignore[misc, valid-type]
    """A record as lists show it: its caption cut to a bound (the record itself has it whole)."""

    caption_truncated: bool = Field(
        False,
        description="True when `caption` was cut (app.explore.service.LIST_CAPTION_CHARS); "
        "GET /api/records/{sample_id} has the full text.",
    )
    caption_length: int | None = Field(
        None, description="Length of the full caption, in characters."
    )
    knn_score: float | None = Field(
        None, description="Searches by meaning: cosine similarity to the query."
    )


class RecordsPage(BaseModel):
    dataset: str
    total: int | None = Field(
        description="The exact number of matches, or null when the page stopped counting "
        "(then see total_at_least, and GET /api/count)."
    )
    total_at_least: int
    sort: str
    offset: int
    size: int
    approximate: bool = Field(description="True when the matches were searched within a cap.")
    notes: list[str]
    next: str | None = Field(description="The URL of the next page, if there is one.")
    records: list[ListedRecord]
    like: str | None = Field(None, description="More like this: the record searched from.")


class NearestRecords(BaseModel):
    """The records nearest to an uploaded picture or a given vector, nearest first."""

    dataset: str
    total: int
    records: list[ListedRecord]
    vector_id: str | None = Field(
        None, description="Uploads: the id its embedding is kept under (never the picture)."
    )
    grid: str | None = Field(None, description="Uploads: the grid's URL for this search.")


# --- the vector API's request -------------------------------------------------------------------

# What every answer of the vector API carries, whatever ``fields`` asks: the record's identity,
# its score, and ``punsafe``, so a client can still apply the blur rule.
ALWAYS_RETURNED = ("pos", "sample_id", "knn_score", "punsafe")
# Besides the catalog's columns (app.catalog.schema.COLUMNS), what list answers add.
LISTED_EXTRAS = ("caption_length", "caption_truncated")


class VectorQuery(BaseModel):
    vector: list[float] = Field(..., min_length=2, max_length=4096)
    kind: Literal["image", "caption"] = "image"
    k: int = Field(50, ge=1, le=1000)
    fields: list[str] | None = Field(
        None,
        max_length=len(BY_NAME) + len(LISTED_EXTRAS),
        description='Only these columns of each record (e.g. `["url", "caption"]`, as '
        "clip-retrieval's `columns_to_return`); `pos`, `sample_id`, `knn_score` and "
        "`punsafe` always come. Default: every column.",
    )

    @field_validator("fields")
    @classmethod
    def _known_columns(cls, fields: list[str] | None) -> list[str] | None:
        if fields is None:
            return None
        unknown = [f for f in fields if f not in BY_NAME and f not in LISTED_EXTRAS]
        if unknown:
            raise ValueError(f"unknown columns {unknown[:5]}; known: {', '.join(BY_NAME)}")
        return fields

    def columns_to_read(self) -> list[str] | None:
        """The catalog columns the answer needs (None: every one); the list extras are
        computed from the caption."""
        if self.fields is None:
            return None
        wanted = [*ALWAYS_RETURNED, *self.fields]
        if any(name in LISTED_EXTRAS for name in wanted):
            wanted.append("caption")
        return [name for name in dict.fromkeys(wanted) if name in BY_NAME]


# The vector route reads its body itself (app.web.search.read_vector_query); this documents it.
VECTOR_QUERY_BODY: dict[str, Any] = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/VectorQuery"}}},
}


class Record(RecordColumns):  # type: ignore[misc, valid-type]
    """One record, every column, its caption whole."""


# --- summaries ---------------------------------------------------------------------------------


class DatasetInfo(BaseModel):
    """A served dataset; or, with ``available`` false, one found in the data folder that
    cannot be opened (a damaged or half-written folder), and why."""

    name: str
    title: str
    available: bool = True
    problem: str | None = Field(None, description="Why an unavailable dataset is not served.")
    description: str | None = None
    row_count: int | None = None
    source_format: str | None = None
    built_at: str | None = None
    extra_columns: list[str] = Field(default_factory=list)


class Count(BaseModel):
    dataset: str
    total: int


class FacetValue(BaseModel):
    value: str | None
    count: int
    approximate: bool = Field(description="Estimated from a sample (large datasets).")


class Histogram(BaseModel):
    score: str
    edges: list[float] = Field(description="21 bin edges: 20 bins over the score's fixed domain.")
    counts: list[int]
    nulls: int = 0
    approximate: bool = False


Facets = dict[str, list[FacetValue]]
Histograms = dict[str, Histogram]


# --- review ------------------------------------------------------------------------------------


class FlagOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int
    dataset: str
    sample_id: str
    url: str | None = Field(description="Always null for suspected CSAM.")
    url_sha256: str | None
    category: Category
    note: str
    status: FlagStatus
    flagged_by: str
    flagged_at: str
    decided_by: str | None
    decided_at: str | None
    decision_note: str | None
    batch: str | None


class QueuePreview(BaseModel):
    """What the review queue shows of a record: never for suspected CSAM."""

    sample_id: str
    caption: str | None = Field(description="Cut like list captions (caption_truncated).")
    caption_truncated: bool
    thumbnail: str = Field(description="/images/...: blur it when `unsafe`, as pages do.")
    record: str
    punsafe: float | None
    unsafe: bool = Field(description="punsafe above the server's blur threshold.")


class QueueMember(BaseModel):
    id: int
    sample_id: str


class QueueItemOut(BaseModel):
    """One line of the review queue: a flag, or a batch (a record and its near-duplicates,
    flagged in one action) that a second reviewer decides at once."""

    batch: str | None = Field(description="The batch's name; null for a flag alone.")
    lead: int = Field(description="The first flag: the record the reviewer flagged.")
    sample_id: str
    members: int = Field(description="Flags of the item matching the filters.")
    listed: list[QueueMember] = Field(description="At most 100 members, lowest id first.")
    by_status: dict[str, int]
    category: str
    note: str
    flagged_by: str
    flagged_at: str
    record: QueuePreview | None = Field(
        description="Caption and thumbnail of the lead record; null for suspected CSAM, and "
        "for records hidden, filtered out or not served."
    )
    quarantined: int | None = Field(
        None, description="Look-alikes its confirmed suspected-CSAM flags keep quarantined."
    )


class FlagQueue(BaseModel):
    total: int = Field(description="Flags matching the filters.")
    items_total: int = Field(description="Queue items matching them (a batch is one).")
    page: int
    page_size: int = Field(description="Items per page.")
    counts: dict[str, dict[str, int]]
    items: list[QueueItemOut]
    flags: list[FlagOut] = Field(description="Every flag the page's items list.")


# --- the document ------------------------------------------------------------------------------

# Parameters whose upper bound is a setting, so the document can say what the server refuses.
_SETTING_BOUNDS: dict[str, str] = {"size": "max_page_size", "k": "max_page_size"}


def describe(document: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Add what every route may answer (ERRORS) and the bounds set by settings to the
    document FastAPI generated; statuses a route documents itself are left as they are."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorBody"] = error_schema
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            statuses = dict(ERRORS)
            if "requestBody" in operation:
                statuses.update(BODY_ERRORS)
            for status, description in statuses.items():
                key = str(status)
                declared = responses.get(key)
                if key == "422" or declared is None:
                    # FastAPI's own 422 names a shape the server never sends.
                    responses[key] = {"description": description}
                    declared = responses[key]
                if status >= 400:
                    declared.setdefault("content", error_content(path))
            if not path.startswith("/api/"):
                _describe_page(method, responses)
            if method == "get" and settings.require_login and not path.startswith("/api/"):
                responses.setdefault(
                    "303", {"description": "Sign in first: a browser is sent to /login."}
                )
            for parameter in operation.get("parameters", []):
                if parameter.get("in") != "query":
                    continue
                setting = _SETTING_BOUNDS.get(parameter.get("name", ""))
                if setting:
                    _set_maximum(parameter.get("schema", {}), getattr(settings, setting))
                if not parameter.get("required"):
                    _blank_is_absent(parameter.get("schema", {}))
    vector_query = VectorQuery.model_json_schema(ref_template="#/components/schemas/{model}")
    _set_maximum(vector_query["properties"]["k"], settings.max_page_size)
    schemas["VectorQuery"] = vector_query
    return document


# What FastAPI writes for a route that declared nothing: a JSON body of any shape.
_UNDECLARED = {"application/json": {"schema": {}}}


def _describe_page(method: str, responses: dict[str, Any]) -> None:
    """Outside /api/ a route that declared nothing answers with a page (or an htmx
    partial): HTML. A form's POST may answer with a redirect back to a page (303, the
    post/redirect/get pattern every form here follows)."""
    ok = responses.get("200")
    if ok is not None and ok.get("content") == _UNDECLARED:
        ok["content"] = {"text/html": {"schema": {"type": "string"}}}
        ok["description"] = "The page, or for an htmx request the part of it that changed."
    if method == "post":
        responses.setdefault("303", {"description": "Back to a page (post/redirect/get)."})


def _blank_is_absent(schema: dict[str, Any]) -> None:
    """An optional query parameter sent blank (``?ds=``, what a plain GET form sends for an
    empty field) is dropped before validation (app.web.middleware.DropEmptyQueryParams):
    it means "absent", whatever the parameter's own pattern or length."""
    options = schema.get("anyOf", [schema])
    constrained = any(
        option.get("type") == "string" and {"pattern", "minLength", "maxLength"} & set(option)
        for option in options
    )
    if not constrained or BLANK in options:
        return
    if "anyOf" not in schema:
        own = {k: schema.pop(k) for k in list(schema) if k not in ("title", "description")}
        schema["anyOf"] = [own]
    schema["anyOf"].append(dict(BLANK))


BLANK = {"type": "string", "pattern": r"^\s*$", "description": "Blank: the same as absent."}


def _set_maximum(schema: dict[str, Any], bound: int) -> None:
    """The bound on an integer schema, also inside ``anyOf`` (optional parameters)."""
    for option in [schema, *schema.get("anyOf", [])]:
        if option.get("type") == "integer":
            option["maximum"] = min(option.get("maximum", bound), bound)


def install(app: FastAPI, settings: Settings) -> None:
    """Serve the described document at /openapi.json (FastAPI still builds it, once per
    change of the routes)."""
    generate = app.openapi
    described: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        document = generate()
        if not described or described[0] is not document:
            described[:] = [describe(document, settings)]
        return document

    app.openapi = openapi  # type: ignore[method-assign]
