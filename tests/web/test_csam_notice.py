"""What a reviewer is told after flagging a record as suspected CSAM, in every rendering: the
JSON answer, the card that replaces the flagged one, the page after a record-page flag (with and
without JavaScript); and the admin-only links of the queue."""

from __future__ import annotations

import pytest

from app.config import Settings
from app.review.notice import HOTLINES
from tests.web.review_support import review_client, sign_in, soup

REPORT_URLS = {
    "https://report.cybertip.org/",
    "https://report.iwf.org.uk/",
    "https://www.inhope.org/EN#hotlineReferral",
}


@pytest.fixture
def reviewer(tiny_data_dir, tmp_path):
    with review_client(Settings(data_dir=tiny_data_dir, state_dir=tmp_path / "state")) as pair:
        client, app = pair
        token = sign_in(client, app, "alice")
        yield client, app, token


def flag(client, token, sample_id: str, category: str = "suspected_csam", **extra):
    headers = extra.pop("headers", {})
    return client.post(
        "/review/flag",
        params={"ds": "tiny"},
        data={"sample_id": sample_id, "category": category, "csrf_token": token, **extra},
        headers=headers,
        follow_redirects=False,
    )


def test_the_hotlines_are_the_three_named_in_the_issue() -> None:
    assert {h.url for h in HOTLINES} == REPORT_URLS


def test_the_json_answer_says_hidden_what_next_and_where_to_report(reviewer):
    client, _, token = reviewer
    answer = flag(client, token, "1030", headers={"Accept": "application/json"}).json()
    assert answer["hidden"] is True
    notice = answer["notice"]
    assert notice["hidden_for_everyone"] is True and notice["flags"] == [answer["flags"][0]["id"]]
    assert "hidden for everyone" in notice["message"]
    assert any("second reviewer" in step for step in notice["next"])
    assert any("look like it" in step for step in notice["next"])
    assert {h["url"] for h in notice["report"]["hotlines"]} == REPORT_URLS
    other = flag(client, token, "1031", "other", headers={"Accept": "application/json"}).json()
    assert other["hidden"] is False and "notice" not in other


def test_the_card_is_replaced_by_the_short_notice(reviewer):
    client, _, token = reviewer
    response = flag(client, token, "1032", context="card", headers={"HX-Request": "true"}, back="/")
    assert response.status_code == 200
    card = soup(response).select_one("li.card-removed")
    assert card is not None and "1032" not in str(card) and card.select("img") == []
    assert "hidden for everyone" in card.text and "second reviewer" in card.text
    links = {a["href"]: a for a in card.select(".csam-notice-report a")}
    assert set(links) == REPORT_URLS
    assert all("noreferrer" in a["rel"] for a in links.values())
    more = card.select_one('a[href^="/review/flagged"]')
    assert more is not None and "flag=" in more["href"]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain form", "htmx"])
def test_a_record_page_flag_leads_to_the_notice_page(reviewer, htmx):
    client, _, token = reviewer
    headers = {"HX-Request": "true"} if htmx else {}
    response = flag(client, token, "1033", context="record", headers=headers)
    if htmx:
        assert response.status_code == 204
        target = response.headers["HX-Redirect"]
    else:
        assert response.status_code == 303
        target = response.headers["location"]
    assert target.startswith("/review/flagged?ds=tiny&flag=")
    page = client.get(target)
    assert page.status_code == 200
    html = soup(page)
    assert html.select_one("h1").text == "Flagged as suspected CSAM"
    notice = html.select_one(".csam-notice")
    assert "What happens next" in notice.text and "How to report it" in notice.text
    assert {a["href"] for a in notice.select("a")} == REPORT_URLS
    assert html.select("main img") == [] and "/images/1033" not in page.text
    assert client.get("/api/records/1033", params={"ds": "tiny"}).status_code == 404
    as_json = client.get(target, headers={"Accept": "application/json"}).json()
    assert as_json["hidden_for_everyone"] is True


def test_the_notice_page_names_only_suspected_csam_flags(reviewer):
    client, _, token = reviewer
    other = flag(client, token, "1034", "other", headers={"Accept": "application/json"}).json()
    page = client.get("/review/flagged", params={"flag": other["flags"][0]["id"]})
    assert page.status_code == 404


def test_admins_see_the_report_link_in_the_queue_and_reviewers_do_not(reviewer):
    client, app, token = reviewer
    flag(client, token, "1035", headers={"Accept": "application/json"})
    queue = soup(client.get("/review"))
    row = queue.select_one("tr.is-csam")
    assert row is not None and row.select("a") == []
    assert queue.select_one(".review-admin") is None
    sign_in(client, app, "carol")
    queue = soup(client.get("/review"))
    link = queue.select_one("tr.is-csam a.report-link")
    assert link is not None and link["href"].endswith("/report")
    assert queue.select_one('.review-admin a[href="/review/quarantine"]') is not None
