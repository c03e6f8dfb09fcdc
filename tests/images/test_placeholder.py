"""Placeholders: valid SVG that says why there is no picture."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from app.images.placeholder import REASONS, placeholder_etag, placeholder_svg

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("reason", sorted(REASONS))
def test_each_reason_is_valid_svg_with_its_label(reason):
    root = ET.fromstring(placeholder_svg(reason))
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts == list(REASONS[reason])
    assert root.find(f"{SVG}title").text.startswith(REASONS[reason][0])
    assert not list(root.iter(f"{SVG}script"))


def test_unknown_reason_falls_back_and_etags_differ():
    assert placeholder_svg("something else") == placeholder_svg("no_image")
    assert placeholder_etag("dead") != placeholder_etag("no_image")
    assert b"No local image" in placeholder_svg()
