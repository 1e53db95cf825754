"""The dashboard against other web pages and oversized input (issue 19, item 9; OWASP CSRF Prevention Cheat
Sheet: verify the Origin/Referer of state-changing requests; clickjacking defence: frame-ancestors / X-Frame-Options).
Each test fails on the dashboard before this protection: the cross-origin POST started a run, no header was sent,
a 20 KB field value took 28.7 s to parse, and `--host 0.0.0.0` accepted any Host."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from rptici.web import create_app  # noqa: E402
from rptici.web.app import serve_hosts  # noqa: E402
from rptici.web.forms import MAX_FIELD_CHARACTERS, default_form  # noqa: E402


def runner(scenario, folder, progress, chunk_size):  # a stand-in trial: the tests check the web layer only
    progress(1, 1)


@pytest.fixture()
def client(tmp_path):
    app = create_app(tmp_path / "runs", runner=runner, summarizer=lambda folder: {"arms": []})
    with TestClient(app, base_url="http://127.0.0.1:8000") as test_client:
        yield test_client


def test_a_post_from_another_origin_is_refused_and_starts_nothing(client, tmp_path):
    for origin in ("https://evil.example", "null"):
        response = client.post("/runs", data=default_form(), headers={"Origin": origin}, follow_redirects=False)
        assert response.status_code == 403, origin
    response = client.post("/runs", data=default_form(), headers={"Referer": "https://evil.example/page"},
                           follow_redirects=False)
    assert response.status_code == 403
    assert not any((tmp_path / "runs").glob("*/status.json"))


def test_a_post_from_the_dashboard_itself_is_accepted(client):
    response = client.post("/runs", data=default_form(), headers={"Origin": "http://127.0.0.1:8000"},
                           follow_redirects=False)
    assert response.status_code == 303


def test_every_page_says_it_may_not_be_framed(client):
    response = client.get("/")
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_an_overlong_field_is_refused_at_once(client):
    form = dict(default_form(), seed="1" * 20_000)
    started = time.perf_counter()
    response = client.post("/runs", data=form)
    assert response.status_code == 400 and f"at most {MAX_FIELD_CHARACTERS} characters" in response.text
    assert time.perf_counter() - started < 5.0  # was 28.7 s, blocking every other request


def test_an_oversized_body_is_refused_before_it_is_read(client):
    response = client.post("/runs", content=b"x" * 200_000, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413


def test_a_wildcard_bind_accepts_only_named_hosts(tmp_path):
    hosts = serve_hosts("0.0.0.0", ["dashboard.lab"])
    assert "*" not in hosts and "dashboard.lab" in hosts and "localhost" in hosts
    assert serve_hosts("127.0.0.1") == ("127.0.0.1", "localhost", "::1", "[::1]")
    app = create_app(tmp_path / "runs", allowed_hosts=serve_hosts("0.0.0.0"), runner=runner)
    with TestClient(app, base_url="http://attacker.example") as test_client:
        assert test_client.get("/").status_code == 400
