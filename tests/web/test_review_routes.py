"""Reviewers' routes through the real app: who may reach what, CSRF, sign-in, flags, the queue.

The role table covers every route the app has (a new route fails ``test_table_covers_every_route``
until it is given a row), for anonymous visitors, viewers, reviewers and admins, with
``LOUPE_REQUIRE_LOGIN`` off and on.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.review.flags import RecordRef
from app.review.store import ReviewStore
from tests.web.review_support import (
    PASSWORD,
    anonymous_token,
    csrf_from,
    review_client,
    sign_in,
    soup,
)

RANK = {None: -1, "viewer": 0, "reviewer": 1, "admin": 2}
ROLES = {None: None, "viewer": "vic", "reviewer": "alice", "admin": "carol"}
_records = itertools.count(1020)


def fresh_flag(app: FastAPI, *, decided: bool = False) -> int:
    """An open flag raised by fiona on a record no other case uses (decided by gus if asked)."""
    store: ReviewStore = app.state.workspace.review
    sample_id = str(next(_records))
    flag = store.flags.flag(
        store.users.get("fiona"), "tiny", RecordRef(sample_id), "other", "table"
    ).flags[0]
    if decided:
        store.flags.confirm(flag.id, store.users.get("gus"))
    return flag.id


def fresh_batch(app: FastAPI) -> str:
    """An open batch of two flags raised by fiona on records no other case uses."""
    store: ReviewStore = app.state.workspace.review
    records = [RecordRef(str(next(_records))), RecordRef(str(next(_records)))]
    return store.flags.flag(store.users.get("fiona"), "tiny", records, "other", "table").batch


def csam_flag(app: FastAPI, *, confirmed: bool = False) -> int:
    """A suspected-CSAM flag by fiona on a fresh record (confirmed by gus if asked)."""
    store: ReviewStore = app.state.workspace.review
    flag = store.flags.flag(
        store.users.get("fiona"), "tiny", RecordRef(str(next(_records))), "suspected_csam"
    ).flags[0]
    if confirmed:
        flag = store.flags.confirm(flag.id, store.users.get("gus"))
    return flag.id


def quarantined_record(app: FastAPI) -> str:
    """Record "q-table" quarantined afresh (a new confirmed flag each time), to be released."""
    from app.review.quarantine import Neighbour

    store: ReviewStore = app.state.workspace.review
    flag = store.flags.get(csam_flag(app, confirmed=True))
    store.quarantine.add(
        flag, [Neighbour("tiny", "q-table", None, "knn", 0.95)], actor="test", methods={}
    )
    return "/review/quarantine/release"


def position_of(app: FastAPI, sample_id: str) -> int:
    """The catalog position of a record (the map's routes take positions)."""
    workspace = app.state.workspace
    return workspace.explorer.record(workspace.datasets["tiny"], sample_id)["pos"]


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class Case:
    method: str
    template: str  # the route as the app declares it
    need: str  # public, view, reviewer, admin
    path: str | Callable[[FastAPI], str] = ""
    page: bool = False  # a browser navigation (Accept: text/html)
    data: dict[str, str] = field(default_factory=dict)
    upload: bool = False  # sends a small picture as the multipart field "picture"
    vector: bool = False  # sends a JSON query vector

    ok_status: int | None = None

    @property
    def ok(self) -> int:
        if self.ok_status is not None:
            return self.ok_status
        return 200 if self.method == "GET" else 303

    def url(self, app: FastAPI) -> str:
        if callable(self.path):
            return self.path(app)
        return self.path or self.template

    def expected(self, role: str | None, require_login: bool) -> int:
        if self.need == "public":
            return self.ok
        if role is None and (self.need != "view" or require_login):
            return 303 if self.page else 401
        if self.need == "view":
            return self.ok
        return self.ok if RANK[role] >= RANK[self.need] else 403


PICTURE = _png()

CASES = [
    Case("GET", "/", "view", page=True),
    Case("GET", "/histograms", "view", page=True),
    Case("GET", "/overview", "view", page=True),
    Case("GET", "/records/{sample_id}", "view", "/records/1011", page=True),
    Case("GET", "/api/datasets", "view"),
    Case("GET", "/healthz", "public"),
    Case("GET", "/docs", "view", page=True),
    Case("GET", "/api/records", "view"),
    Case("GET", "/api/records/{sample_id}", "view", "/api/records/1011"),
    Case("GET", "/api/facets", "view"),
    Case("GET", "/api/count", "view"),
    Case("GET", "/count", "view", page=True),
    Case("GET", "/api/histograms", "view"),
    Case("GET", "/api/overview", "view"),
    Case("GET", "/map", "view", page=True),
    Case("GET", "/map/card", "view", lambda app: f"/map/card?pos={position_of(app, '1011')}"),
    Case(
        "GET",
        "/map/point",
        "view",
        lambda app: f"/map/point?pos={position_of(app, '1011')}",
        page=True,
        ok_status=303,
    ),
    Case("GET", "/api/map", "view"),
    Case("GET", "/api/map/points", "view", "/api/map/points?fields=flags"),
    Case("GET", "/lab", "view", "/lab?similarity_min=0.3&b_similarity_min=0.33", page=True),
    Case("GET", "/lab/words", "view", "/lab/words?similarity_min=0.3", page=True),
    Case("GET", "/api/lab", "view", "/api/lab?similarity_min=0.3&words=true"),
    Case("GET", "/api/search", "view", "/api/search?q=cat&mode=meaning"),
    Case("POST", "/api/search/vector", "view", "/api/search/vector?ds=tiny", vector=True),
    Case("GET", "/api/records/{sample_id}/similar", "view", "/api/records/1011/similar"),
    Case("GET", "/records/{sample_id}/duplicates", "view", "/records/1011/duplicates", page=True),
    Case("POST", "/search/image", "view", "/search/image?ds=tiny", upload=True, ok_status=303),
    Case(
        "POST", "/api/search/image", "view", "/api/search/image?ds=tiny", upload=True, ok_status=200
    ),
    Case("GET", "/images/{sample_id}/{size}", "view", "/images/1011/thumb"),
    Case("GET", "/images/{sample_id}/{size}", "view", "/images/1011/display"),
    Case("GET", "/export", "view", "/export?format=csv&lang=de", page=True),
    Case("POST", "/prefs/blur", "view", data={"blur": "off", "back": "/"}),
    Case("GET", "/login", "public", page=True),
    Case("POST", "/login", "public", data={"name": "alice", "password": PASSWORD}),
    Case("POST", "/logout", "public"),
    Case("GET", "/review", "reviewer", page=True),
    Case("GET", "/api/review/flags", "reviewer"),
    Case("GET", "/review/export", "reviewer", "/review/export?format=parquet", page=True),
    Case(
        "POST",
        "/review/flag",
        "reviewer",
        "/review/flag?ds=tiny",
        data={"sample_id": "1012", "category": "other", "note": "role table"},
    ),
    Case(
        "POST",
        "/review/flags/{flag_id}/confirm",
        "reviewer",
        lambda app: f"/review/flags/{fresh_flag(app)}/confirm",
    ),
    Case(
        "POST",
        "/review/flags/{flag_id}/dismiss",
        "reviewer",
        lambda app: f"/review/flags/{fresh_flag(app)}/dismiss",
    ),
    Case(
        "POST",
        "/review/flags/{flag_id}/reopen",
        "admin",
        lambda app: f"/review/flags/{fresh_flag(app, decided=True)}/reopen",
    ),
    Case(
        "POST",
        "/review/batches/{batch}/confirm",
        "reviewer",
        lambda app: f"/review/batches/{fresh_batch(app)}/confirm",
    ),
    Case(
        "POST",
        "/review/batches/{batch}/dismiss",
        "reviewer",
        lambda app: f"/review/batches/{fresh_batch(app)}/dismiss",
    ),
    Case(
        "GET",
        "/review/flagged",
        "reviewer",
        lambda app: f"/review/flagged?ds=tiny&flag={csam_flag(app)}",
        page=True,
    ),
    Case("GET", "/review/quarantine", "admin", "/review/quarantine?state=all", page=True),
    Case("GET", "/api/review/quarantine", "admin"),
    Case(
        "POST",
        "/review/quarantine/release",
        "admin",
        quarantined_record,
        data={"ds": "tiny", "sample_id": "q-table", "reason": "role table: not a look-alike"},
    ),
    Case(
        "GET",
        "/review/flags/{flag_id}/report",
        "admin",
        lambda app: f"/review/flags/{csam_flag(app)}/report",
        page=True,
    ),
    Case(
        "POST",
        "/review/flags/{flag_id}/report",
        "admin",
        lambda app: f"/review/flags/{csam_flag(app)}/report",
        ok_status=200,
    ),
]


@pytest.fixture(scope="module", params=[False, True], ids=["anonymous-ok", "require-login"])
def role_app(request, tiny_data_dir, tmp_path_factory):
    settings = Settings(
        data_dir=tiny_data_dir,
        state_dir=tmp_path_factory.mktemp("roles-state"),
        require_login=request.param,
    )
    with review_client(settings) as (client, app):
        yield client, app, request.param


@pytest.fixture
def fresh(tiny_data_dir, tmp_path):
    """A client on its own state folder (sign-in counts and flags of its own)."""
    with review_client(Settings(data_dir=tiny_data_dir, state_dir=tmp_path / "state")) as pair:
        yield pair


def test_table_covers_every_route(role_app):
    _, app, _ = role_app
    declared = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    covered = {(case.method, case.template) for case in CASES}
    assert declared - covered == set(), "give every new route a row in CASES"
    assert covered - declared == set()


@pytest.mark.parametrize("role", list(ROLES), ids=lambda r: r or "anonymous")
def test_route_by_role(role_app, role):
    client, app, require_login = role_app
    failures = []
    for case in CASES:
        token = sign_in(client, app, ROLES[role])
        headers = {"Accept": "text/html"} if case.page else {}
        url = case.url(app)
        if case.method == "GET":
            response = client.get(url, headers=headers, follow_redirects=False)
        else:
            if case.vector:
                response = client.post(
                    url, json={"vector": [0.1] * 256, "kind": "image", "k": 5}, headers=headers
                )
                expected = case.expected(role, require_login)
                if response.status_code != (200 if expected == 303 else expected):
                    failures.append(f"POST {url}: {response.status_code}, expected {expected}")
                continue
            response = client.post(
                url,
                data={**case.data, "csrf_token": token},
                files={"picture": ("p.png", PICTURE, "image/png")} if case.upload else None,
                headers=headers,
                follow_redirects=False,
            )
        expected = case.expected(role, require_login)
        if response.status_code != expected:
            failures.append(f"{case.method} {url}: {response.status_code}, expected {expected}")
        if expected == 303 and case.method == "GET" and case.ok != 303:
            assert response.headers["location"].startswith("/login?next=")
    assert failures == []


# --- CSRF ------------------------------------------------------------------------------------
def test_state_changes_need_the_sessions_csrf_token(fresh):
    client, app = fresh
    token = sign_in(client, app, "alice")
    flag = {"sample_id": "1013", "category": "other"}
    missing = client.post("/review/flag?ds=tiny", data=flag)
    assert missing.status_code == 403
    assert "security token" in missing.text
    wrong = client.post("/review/flag?ds=tiny", data={**flag, "csrf_token": "x" * 43})
    assert wrong.status_code == 403
    other = sign_in(client, app, "bob")  # a real token, but of another session
    token = sign_in(client, app, "alice")
    assert other != token
    stolen = client.post("/review/flag?ds=tiny", data={**flag, "csrf_token": other})
    assert stolen.status_code == 403
    assert app.state.workspace.review.flags.count() == 0
    # htmx sends it in a header; a plain form in a field.
    ok = client.post(
        "/review/flag?ds=tiny",
        data=flag,
        headers={"X-CSRF-Token": token, "Accept": "application/json"},
    )
    assert ok.status_code == 200 and ok.json()["created"] == 1


def test_blur_preference_and_login_form_are_protected_for_signed_out_visitors(fresh):
    client, app = fresh
    assert client.post("/prefs/blur", data={"blur": "off"}).status_code == 403
    token = anonymous_token(client)
    response = client.post(
        "/prefs/blur", data={"blur": "off", "csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    # The token is bound to the visitor's own cookie: without it, the same token is refused.
    client.cookies.clear()
    refused = client.post(
        "/login", data={"name": "alice", "password": PASSWORD, "csrf_token": token}
    )
    assert refused.status_code == 403


# --- signing in ------------------------------------------------------------------------------
def test_login_sets_a_hardened_cookie_and_logout_ends_the_session(fresh):
    client, app = fresh
    token = anonymous_token(client)
    response = client.post(
        "/login",
        data={"name": "alice", "password": PASSWORD, "csrf_token": token, "next": "/review"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/review"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()  # plain http on loopback
    page = soup(client.get("/review"))
    assert page.select_one(".whoami").text == "alice"
    token = csrf_from(str(page))
    client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    after = client.get("/review", headers={"Accept": "text/html"}, follow_redirects=False)
    assert after.status_code == 303


def test_cookie_is_secure_over_https(tiny_data_dir, tmp_path):
    settings = Settings(data_dir=tiny_data_dir, state_dir=tmp_path / "state")
    with review_client(settings) as (_, app):
        with TestClient(app, base_url="https://loupe.example") as client:
            token = anonymous_token(client)
            response = client.post(
                "/login",
                data={"name": "alice", "password": PASSWORD, "csrf_token": token},
                follow_redirects=False,
            )
            assert response.status_code == 303
            assert "secure" in response.headers["set-cookie"].lower()


def test_login_never_redirects_off_site(fresh):
    client, _ = fresh
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        token = anonymous_token(client)
        response = client.post(
            "/login",
            data={"name": "bob", "password": PASSWORD, "csrf_token": token, "next": target},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/"


def test_wrong_password_then_rate_limit_429(fresh):
    client, app = fresh
    limit = app.state.settings.login_max_failures
    token = anonymous_token(client)
    for _ in range(limit):
        response = client.post(
            "/login", data={"name": "alice", "password": "not it at all", "csrf_token": token}
        )
        assert response.status_code == 401
        assert "wrong name or password" in response.text
    blocked = client.post(
        "/login", data={"name": "alice", "password": PASSWORD, "csrf_token": token}
    )
    assert blocked.status_code == 429
    assert "too many failed sign-ins" in soup(blocked).select_one(".form-error").text
    assert int(blocked.headers["retry-after"]) > 0
    # The address is limited too: another account from the same address is refused.
    other = client.post("/login", data={"name": "bob", "password": PASSWORD, "csrf_token": token})
    assert other.status_code == 429


def test_rate_limit_survives_a_restart(tiny_data_dir, tmp_path):
    """Failures are kept in the review database: a new server on the same state folder (a
    restart, or a second worker) still answers 429 with a Retry-After."""
    settings = Settings(data_dir=tiny_data_dir, state_dir=tmp_path / "state")
    with review_client(settings) as (client, _):
        token = anonymous_token(client)
        for _ in range(settings.login_max_failures):
            wrong = client.post(
                "/login", data={"name": "alice", "password": "not it", "csrf_token": token}
            )
            assert wrong.status_code == 401
    with review_client(settings) as (client, _):
        token = anonymous_token(client)
        blocked = client.post(
            "/login", data={"name": "alice", "password": PASSWORD, "csrf_token": token}
        )
        assert blocked.status_code == 429
        assert 0 < int(blocked.headers["retry-after"]) <= settings.login_window_s
        assert "too many failed sign-ins" in soup(blocked).select_one(".form-error").text


def test_require_login_sends_pages_to_the_login_form_and_back(tiny_data_dir, tmp_path):
    settings = Settings(data_dir=tiny_data_dir, state_dir=tmp_path / "state", require_login=True)
    with review_client(settings) as (client, _):
        response = client.get("/?lang=de", headers={"Accept": "text/html"}, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=%2F%3Flang%3Dde"
        assert client.get("/api/records").status_code == 401
        assert client.get("/images/1011/thumb").status_code == 401
        htmx = client.get("/", headers={"HX-Request": "true"})
        assert htmx.status_code == 401 and htmx.headers["HX-Redirect"] == "/login"
        login = client.get(response.headers["location"])
        token = csrf_from(login.text)
        next_field = soup(login).select_one("input[name=next]")["value"]
        assert next_field == "/?lang=de"
        signed_in = client.post(
            "/login",
            data={"name": "vic", "password": PASSWORD, "csrf_token": token, "next": next_field},
        )
        assert signed_in.status_code == 200 and signed_in.url.path == "/"
        assert client.get("/api/records").status_code == 200


# --- flags, the queue, decisions --------------------------------------------------------------
def test_flag_form_only_for_reviewers(fresh):
    client, app = fresh
    sign_in(client, app, "vic")
    assert soup(client.get("/")).select(".flag-form") == []
    assert soup(client.get("/records/1011")).select_one("#flag-panel") is None
    sign_in(client, app, "alice")
    page = soup(client.get("/"))
    assert len(page.select("#grid li.card .flag-form")) == 48
    record = soup(client.get("/records/1011"))
    categories = [o["value"] for o in record.select("#flag-panel select[name=category] option")]
    assert "suspected_csam" in categories and "other" in categories


def test_flag_from_a_card_with_htmx_replaces_the_card(fresh):
    client, app = fresh
    token = sign_in(client, app, "alice")
    response = client.post(
        "/review/flag?ds=tiny",
        data={"sample_id": "1014", "category": "copyright_watermark", "context": "card"},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    card = soup(response).select_one("li.card")
    assert card["data-sample-id"] == "1014"
    assert "Copyright / watermark" in card.select_one(".card-notice").text


def test_flag_near_duplicates_in_one_action(fresh):
    client, app = fresh
    token = sign_in(client, app, "alice")
    response = client.post(
        "/review/flag?ds=tiny",
        data={
            "sample_id": "1015",
            "category": "personal_data",
            "also": ["1016", "1017", "no-such-id"],
            "near_duplicates": "true",
            "csrf_token": token,
        },
        headers={"Accept": "application/json"},
    )
    body = response.json()
    # The record, the extra ids, and the near-duplicates its record page shows.
    dataset = app.state.workspace.datasets["tiny"]
    row = app.state.workspace.explorer.record(dataset, "1015")
    duplicates = app.state.workspace.semantic.near_duplicates(
        dataset, row["pos"], app.state.settings.duplicate_threshold
    )
    expected = {"1015", "1016", "1017"} | {d["sample_id"] for d in duplicates}
    assert body["batch"] and body["created"] == len(expected)
    assert {f["sample_id"] for f in body["flags"]} == expected


@pytest.mark.parametrize(
    "data, status, words",
    [
        ({"sample_id": "1018", "category": "nonsense"}, 422, "category"),
        ({"sample_id": "99999", "category": "other"}, 404, "no record"),
        ({"sample_id": "1018", "category": "other", "note": "x" * 2001}, 422, "note"),
        ({"category": "other"}, 422, "sample_id"),
    ],
)
def test_bad_flag_input_is_a_clear_4xx(fresh, data, status, words):
    client, app = fresh
    token = sign_in(client, app, "alice")
    response = client.post("/review/flag?ds=tiny", data={**data, "csrf_token": token})
    assert response.status_code == status
    assert words in response.text


@pytest.mark.parametrize(
    "query, status",
    [
        ("category=nope", 422),
        ("status=maybe", 422),
        ("since=2026-13-01", 422),
        ("since=2026-03-02&until=2026-03-01", 400),
        ("page=0", 422),
        ("ds=../etc", 422),
    ],
)
def test_bad_queue_filters_are_a_clear_4xx(fresh, query, status):
    client, app = fresh
    sign_in(client, app, "alice")
    assert client.get(f"/review?{query}").status_code == status
    assert client.get(f"/api/review/flags?{query}").status_code == status


def test_second_reviewer_rule_and_conflicts(fresh):
    client, app = fresh
    token = sign_in(client, app, "alice")
    client.post(
        "/review/flag?ds=tiny",
        data={"sample_id": "1019", "category": "hateful", "csrf_token": token},
    )
    flag_id = app.state.workspace.review.flags.queue()[0].id
    own = client.post(f"/review/flags/{flag_id}/confirm", data={"csrf_token": token})
    assert own.status_code == 403 and "different reviewer" in own.text
    row = soup(client.get("/review")).select_one(f"#flag-{flag_id}")
    assert "awaiting a second reviewer" in row.text and row.select("button") == []
    token = sign_in(client, app, "bob")
    decided = client.post(
        f"/review/flags/{flag_id}/dismiss",
        data={"csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert soup(decided).select_one("tr .badge-dismissed") is not None
    again = client.post(f"/review/flags/{flag_id}/confirm", data={"csrf_token": token})
    assert again.status_code == 409
    missing = client.post("/review/flags/999999/confirm", data={"csrf_token": token})
    assert missing.status_code == 404


def test_queue_filters_and_counts(fresh):
    client, app = fresh
    store: ReviewStore = app.state.workspace.review
    fiona, gus = store.users.get("fiona"), store.users.get("gus")
    store.flags.flag(fiona, "tiny", [RecordRef("1030"), RecordRef("1031")], "violence")
    store.flags.flag(gus, "tiny", RecordRef("1032"), "sexual")
    store.flags.confirm(store.flags.queue()[0].id, fiona)  # gus's flag
    sign_in(client, app, "alice")
    page = soup(client.get("/review"))
    assert page.select_one("#queue-total").text == "3"
    counts = {
        row.select_one("th").text: [td.text for td in row.select("td")]
        for row in page.select(".flag-counts tbody tr")
    }
    assert counts["Violence / gore"] == ["2", "0", "0", "2"]
    assert counts["Sexual content"] == ["0", "1", "0", "1"]
    open_violence = soup(client.get("/review?category=violence&status=open"))
    # fiona's two violence flags were one action: one batch, one row.
    (row,) = open_violence.select("tr.flag-row")
    assert "batch-row" in row["class"] and row.select_one(".status-cell").text.strip() == "2 open"
    by_gus = client.get("/api/review/flags", params={"reviewer": "gus"}).json()
    assert by_gus["total"] == 1 and by_gus["flags"][0]["sample_id"] == "1032"
    nothing = client.get("/api/review/flags", params={"until": "2000-01-01"}).json()
    assert nothing["total"] == 0


def test_flag_confirm_export_round_trip(fresh):
    client, app = fresh
    token = sign_in(client, app, "alice")
    for sample_id, category in [("1040", "sexual"), ("1041", "copyright_watermark")]:
        response = client.post(
            "/review/flag?ds=tiny",
            data={"sample_id": sample_id, "category": category, "csrf_token": token},
            follow_redirects=False,
        )
        assert response.status_code == 303
    client.post(
        "/review/flag?ds=tiny",
        data={"sample_id": "1042", "category": "suspected_csam", "csrf_token": token},
    )
    api = client.get("/api/review/flags", params={"status": "open"}).json()
    assert api["total"] == 3
    csam = next(f for f in api["flags"] if f["category"] == "suspected_csam")
    assert csam["url"] is None and len(csam["url_sha256"]) == 64
    token = sign_in(client, app, "bob")
    for flag in api["flags"]:
        response = client.post(
            f"/review/flags/{flag['id']}/confirm",
            data={"csrf_token": token, "note": "agreed"},
            follow_redirects=False,
        )
        assert response.status_code == 303
    csv = client.get("/review/export", params={"ds": "tiny", "format": "csv"})
    assert csv.status_code == 200
    assert 'filename="tiny-removals.csv"' in csv.headers["content-disposition"]
    table = pacsv.read_csv(io.BytesIO(csv.content))
    parquet = pq.read_table(io.BytesIO(client.get("/review/export?format=parquet").content))
    for read_back in (table, parquet):
        rows = {row["SAMPLE_ID"]: row for row in read_back.to_pylist()}
        assert {str(k) for k in rows} == {"1040", "1041", "1042"}
        assert all(row["flagged_by"] == "alice" for row in rows.values())
        assert all(row["confirmed_by"] == "bob" for row in rows.values())
    rows = {str(row["SAMPLE_ID"]): row for row in parquet.to_pylist()}
    assert rows["1042"]["URL"] is None and rows["1040"]["URL"].startswith("https://")
    assert rows["1042"]["category"] == "suspected_csam"


def test_suspected_csam_flag_hides_the_record_everywhere_at_once(fresh):
    client, app = fresh
    token = sign_in(client, app, "alice")
    assert client.get("/records/1050").status_code == 200
    response = client.post(
        "/review/flag?ds=tiny",
        data={"sample_id": "1050", "category": "suspected_csam", "context": "card"},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    removed = soup(response).select_one("li.card-removed")
    assert removed is not None and "1050" not in response.text
    for role in ("alice", "carol", None):
        sign_in(client, app, role)
        assert client.get("/records/1050").status_code == 404
        assert client.get("/api/records/1050").status_code == 404
        assert client.get("/images/1050/thumb").status_code == 404
        assert client.get("/api/records", params={"size": 200}).json()["total"] == 119
        exported = pacsv.read_csv(io.BytesIO(client.get("/export?format=csv").content))
        assert exported.num_rows == 119
        assert "1050" not in {str(v) for v in exported.column("sample_id").to_pylist()}
    # From the record page (which no longer exists), htmx is sent to the page that says what
    # happened and how to report it (tests/web/test_csam_notice.py).
    token = sign_in(client, app, "alice")
    response = client.post(
        "/review/flag?ds=tiny",
        data={"sample_id": "1051", "category": "suspected_csam", "context": "record"},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert response.headers["HX-Redirect"].startswith("/review/flagged?ds=tiny&flag=")
    # Only the id, URL hash and the flag stay visible, in the queue.
    row = soup(client.get("/review")).select_one("tr.is-csam")
    assert row.select_one("a") is None and row.select_one(".badge-warn").text == "hidden"


def test_flag_from_another_process_is_applied_before_the_next_request(fresh, tmp_path):
    client, app = fresh
    # The CLI (or another worker) writes to the same database file.
    other = ReviewStore.open(app.state.settings)
    try:
        other.flags.flag(other.users.get("fiona"), "tiny", RecordRef("1060"), "suspected_csam")
        other.blocklists.import_values(
            [app.state.workspace.catalog.record("tiny", "1061")["url_sha256"]],
            "url_sha256",
            actor="test",
            source="test",
        )
    finally:
        other.close()
    sign_in(client, app, None)
    records = client.get("/api/records", params={"size": 200}).json()["records"]
    ids = {r["sample_id"] for r in records}
    assert "1060" not in ids and "1061" not in ids and "1062" in ids
    assert client.get("/images/1061/display").status_code == 404


def test_form_categories_are_the_stores_categories():
    import typing

    from app.review.db import CATEGORIES, Category
    from app.review.flags import CATEGORY_LABELS
    from app.web.review import flag_record

    # The route's parameter is the store's own Literal; the labels cover exactly it.
    assert typing.get_args(Category) == CATEGORIES == tuple(CATEGORY_LABELS)
    assert "Category" in str(flag_record.__annotations__["category"])
