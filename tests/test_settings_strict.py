"""Settings are strict (a typo is an error that names it) and the secret key never reaches a
template."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, SecretStr

from app.config import Settings, SettingsError
from app.main import create_app
from tests.web.review_support import add_people, sign_in

SECRET = "do-not-show-me-7c1f0e93b2a64d5e8f1a"


def test_a_misspelt_keyword_is_an_error_that_names_it():
    with pytest.raises(
        SettingsError, match=r"'data_dri' is not a setting; did you mean data_dir\?"
    ):
        Settings(data_dri="x")


def test_a_misspelt_environment_variable_is_an_error_that_names_it(monkeypatch):
    monkeypatch.setenv("LOUPE_REQUIRE_LOGINN", "true")
    with pytest.raises(SettingsError) as raised:
        Settings()
    message = str(raised.value)
    assert "LOUPE_REQUIRE_LOGINN is not a setting" in message
    assert "did you mean LOUPE_REQUIRE_LOGIN?" in message


def test_every_unknown_name_is_listed_and_lower_case_counts(monkeypatch):
    monkeypatch.setenv("loupe_prot", "9000")
    monkeypatch.setenv("LOUPE_NOTHING_LIKE_IT", "1")
    with pytest.raises(SettingsError) as raised:
        Settings(page_sise=10)
    message = str(raised.value)
    assert "'page_sise' is not a setting; did you mean page_size" in message
    assert "loupe_prot is not a setting; did you mean LOUPE_PORT" in message
    assert "LOUPE_NOTHING_LIKE_IT is not a setting (`loupe settings`" in message


def test_known_names_and_tool_variables_are_accepted(monkeypatch):
    monkeypatch.setenv("LOUPE_PORT", "9001")
    monkeypatch.setenv("LOUPE_SCREENSHOTS", "/tmp/shots")  # the browser tests' folder
    monkeypatch.setenv("OTHER_TOOL_PORT", "1")
    assert Settings().port == 9001


def test_the_secret_key_is_a_secret():
    settings = Settings(secret_key=SECRET)
    assert isinstance(settings.secret_key, SecretStr)
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())


def _holds_secret(value, depth: int = 0) -> bool:
    """Whether a template context value is, or holds, the settings or the secret."""
    if depth > 4:
        return False
    if isinstance(value, Settings | SecretStr):
        return True
    if isinstance(value, str):
        return SECRET in value
    if isinstance(value, dict):
        return any(_holds_secret(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple | set):
        return any(_holds_secret(v, depth + 1) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return any(
            _holds_secret(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)
        )
    if isinstance(value, BaseModel):
        return any(_holds_secret(v, depth + 1) for v in value.__dict__.values())
    return False


def test_no_template_sees_the_secret_key(tiny_data_dir, tmp_path):
    settings = Settings(data_dir=tiny_data_dir, state_dir=tmp_path / "state", secret_key=SECRET)
    app = create_app(settings)
    globals_ = app.state.templates.env.globals
    assert not any(_holds_secret(v) for k, v in globals_.items() if k != "url_with")
    with TestClient(app) as client:
        add_people(app.state.workspace.review)
        sign_in(client, app, "alice")  # a reviewer: the review queue and flag forms too
        pages = ["/", "/records/1003", "/overview", "/review", "/records/nope", "/count"]
        for path in pages:
            response = client.get(path)
            assert SECRET not in response.text, path
            # Starlette's test client hands back the context each template was given.
            context = response.context  # type: ignore[attr-defined]
            assert not any(_holds_secret(v) for k, v in context.items() if k != "request"), path
        client.cookies.clear()
        assert SECRET not in client.get("/login").text
