"""Fixtures the browser tests share."""

from __future__ import annotations

import pytest

from app.config import Settings
from app.main import create_app
from tests.conftest import LiveServer
from tests.web.review_support import add_people


@pytest.fixture
def review_server(tiny_data_dir, tmp_path):
    """The tiny dataset served for real, with review_support's people signed up."""
    settings = Settings(data_dir=tiny_data_dir, state_dir=tmp_path / "state")
    app = create_app(settings)
    with LiveServer(app) as server:
        add_people(app.state.workspace.review)
        server.app = app
        server.settings = settings
        yield server
