"""The HTML pages over a real server: rendering, escaping, the form's CSRF and validation, history search and
paging, the print view, error pages and the login flow where the profile requires a token."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from html import escape
from typing import Any

import httpx
import pytest

from oppscope.analysis.narrative import money
from oppscope.web.app import create_app
from oppscope.web.assets import STATIC_DIR
from oppscope.web.formatting import month_name
from tests.examples import OPPORTUNITY
from tests.web.conftest import WebSettings, create_token, serving

HOSTILE = '<script>alert("x")</script>'


def csrf(client: httpx.Client, path: str = "/") -> str:
    """Load a page the way a browser does: it sets the CSRF cookie and echoes it in every form."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "the page has no CSRF field"
    assert client.cookies["oppscope_csrf"] == match.group(1)
    return match.group(1)


def post_form(client: httpx.Client, path: str, data: dict[str, str], **headers: str) -> httpx.Response:
    return client.post(path, data=data, headers=headers, follow_redirects=False)


def analysis_form(**changes: str) -> dict[str, str]:
    return {**OPPORTUNITY, "customer_name": f"Form Customer {uuid.uuid4().hex[:8]}", **changes}


def total(client: httpx.Client) -> int:
    count: int = client.get("/api/v1/analyses", params={"limit": 1}).json()["total"]
    return count


def created_id(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/analyses/")
    return location.removeprefix("/analyses/")


def test_analyze_form_offers_the_history_vocabulary_and_the_model_limits(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    assert "projects in the history" in html
    vocabulary = client.get("/api/v1/history/vocabulary").json()
    for value in (vocabulary["industries"][0], vocabulary["partners"][0], "eu-central-1"):
        assert f'<option value="{escape(value)}">' in html
    customer = re.search(r'<input id="f-customer_name"[^>]*>', html)
    assert customer and 'maxlength="300"' in customer.group() and " required" in customer.group()
    assert re.search(r'<textarea id="f-description"[^>]*maxlength="20000"', html)
    assert re.search(r'<input id="f-salesforce_link"[^>]*maxlength="2000"', html)
    assert re.search(r'<input id="f-close_date" [^>]*type="date"[^>]*min="1990-01-01" max="2100-12-31"', html)
    assert 'for="f-region"' in html


def test_pages_carry_no_inline_script_or_style(client: httpx.Client) -> None:
    """The Content-Security-Policy forbids inline code; a page that used it would break in the browser."""
    analysis_id = created_id(post_form(client, "/analyses", {**analysis_form(), "csrf_token": csrf(client)}))
    for path in ("/", "/analyses", f"/analyses/{analysis_id}", "/login", "/analyses/unknown"):
        page = client.get(path)
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert not re.search(r"\sstyle=|<style|\son[a-z]+=", page.text), path
        for tag in re.findall(r"<script[^>]*>", page.text):
            assert " src=" in tag or 'type="application/json"' in tag, (path, tag)


def test_form_post_with_csrf_creates_the_analysis_and_redirects_to_it(client: httpx.Client) -> None:
    form = analysis_form()
    analysis_id = created_id(post_form(client, "/analyses", {**form, "csrf_token": csrf(client)}))
    saved = client.get(f"/api/v1/analyses/{analysis_id}")
    assert saved.status_code == 200
    body = saved.json()
    assert body["input"]["customer_name"] == form["customer_name"]
    assert body["input"]["industry"] == "Manufacturing"
    assert body["input"]["partner_name"] is None  # a blank optional field means "not given"
    page = client.get(f"/analyses/{analysis_id}")
    assert page.status_code == 200
    predictions = body["predictions"]
    for text in (
        money(predictions["arr"]["value"]),
        money(predictions["mrr"]["value"]),
        month_name(predictions["launch_date"]),
        f'data-metric="confidence-score">{body["confidence"]["score"]}<',
        body["similar_projects"][0]["opportunity_name"],
        body["provenance"]["model_id"],
    ):
        assert text in page.text
    assert f'href="/api/v1/analyses/{analysis_id}/export?format=csv"' in page.text
    assert 'id="chart-data"' in page.text


@pytest.mark.parametrize("token", [None, "", "forged-token-forged-token-forged-token"])
def test_form_post_without_the_csrf_token_is_refused_and_saves_nothing(client: httpx.Client, token: str | None) -> None:
    csrf(client)
    before = total(client)
    data = analysis_form() | ({} if token is None else {"csrf_token": token})
    response = post_form(client, "/analyses", data)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "security token" in response.text
    assert total(client) == before


def test_form_post_without_the_csrf_cookie_is_refused(module_server: str) -> None:
    with httpx.Client(base_url=module_server) as first:
        token = csrf(first)
    with httpx.Client(base_url=module_server) as fresh:
        assert post_form(fresh, "/analyses", {**analysis_form(), "csrf_token": token}).status_code == 403


def test_cross_site_post_is_refused_even_with_the_token(client: httpx.Client) -> None:
    data = {**analysis_form(), "csrf_token": csrf(client)}
    before = total(client)
    response = post_form(client, "/analyses", data, Origin="https://evil.example")
    assert response.status_code == 403
    assert "another site" in response.text
    assert total(client) == before
    assert created_id(post_form(client, "/analyses", data, Origin=str(client.base_url).rstrip("/")))


def test_invalid_form_comes_back_422_with_messages_at_each_field(client: httpx.Client) -> None:
    data = analysis_form(customer_name="  ", region="x" * 301, close_date="1890-01-01", description="keep me")
    before = total(client)
    response = post_form(client, "/analyses", {**data, "csrf_token": csrf(client)})
    assert response.status_code == 422
    html = response.text

    def message(field: str) -> str:
        found = re.search(rf'id="f-{field}-error" data-error-for="{field}">([^<]*)<', html)
        assert found, field
        return found.group(1)

    assert message("customer_name") == "This field is required."
    assert "300 characters" in message("region")
    assert "1990-01-01" in message("close_date")
    assert message("opportunity_name") == ""
    assert re.search(r'<input id="f-region"[^>]*aria-invalid="true"', html)
    assert "keep me</textarea>" in html
    assert f'value="{OPPORTUNITY["opportunity_name"]}"' in html
    assert "3 fields need attention" in html
    assert total(client) == before


def test_hostile_text_is_shown_as_text_everywhere(client: httpx.Client) -> None:
    marker = uuid.uuid4().hex[:8]
    data = analysis_form(customer_name=f"{HOSTILE} {marker}", opportunity_name=f"Deal {HOSTILE}")
    analysis_id = created_id(post_form(client, "/analyses", {**data, "csrf_token": csrf(client)}))
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
    pages = [
        client.get(f"/analyses/{analysis_id}").text,
        client.get("/analyses", params={"q": marker}).text,
        client.get(f"/api/v1/analyses/{analysis_id}/export", params={"format": "html"}).text,
    ]
    for html in pages:
        assert HOSTILE not in html
        assert escaped in html
    invalid = post_form(client, "/analyses", {**data, "region": "", "csrf_token": csrf(client)})
    assert invalid.status_code == 422
    assert HOSTILE not in invalid.text


def test_history_lists_newest_first_with_search_filter_and_pages(client: httpx.Client) -> None:
    marker = f"pager{uuid.uuid4().hex[:8]}"
    ids = []
    for number in range(23):
        customer = f"{marker} {'Even' if number % 2 == 0 else 'Odd'} Ltd"
        response = client.post("/api/v1/analyses", json={**OPPORTUNITY, "customer_name": customer})
        assert response.status_code == 201
        ids.append(response.json()["id"])
    first = client.get("/analyses", params={"q": marker})
    assert first.status_code == 200
    assert "23 analyses found" in first.text
    rows = re.findall(r'<a class="strong" href="/analyses/([^"]+)"', first.text)
    assert rows == ids[::-1][:20]
    assert "1–20 of 23" in first.text
    next_page = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert next_page
    second = client.get(next_page.group(1).replace("&amp;", "&"))
    assert re.findall(r'<a class="strong" href="/analyses/([^"]+)"', second.text) == ids[::-1][20:]
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text
    odd = client.get("/analyses", params={"customer": f"{marker} odd ltd"})
    assert "11 analyses found" in odd.text
    assert "No analysis matches" in client.get("/analyses", params={"q": f"{marker} nowhere"}).text


def test_history_rejects_a_bad_page_number_with_an_html_page(client: httpx.Client) -> None:
    response = client.get("/analyses", params={"page": 0})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")


def test_unknown_analysis_is_a_404_page(client: httpx.Client) -> None:
    response = client.get("/analyses/no-such-analysis")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Analysis not found" in response.text
    assert "no-such-analysis" in response.text


def test_rerun_from_the_page_saves_a_new_analysis(client: httpx.Client) -> None:
    first = created_id(post_form(client, "/analyses", {**analysis_form(), "csrf_token": csrf(client)}))
    token = csrf(client, f"/analyses/{first}")
    assert post_form(client, f"/analyses/{first}/rerun", {}).status_code == 403
    second = created_id(post_form(client, f"/analyses/{first}/rerun", {"csrf_token": token}))
    assert second != first
    assert client.get(f"/api/v1/analyses/{second}").json()["rerun_of"] == first
    assert f'href="/analyses/{first}"' in client.get(f"/analyses/{second}").text


def test_print_view_is_a_standalone_document_with_the_figures(client: httpx.Client) -> None:
    analysis_id = created_id(post_form(client, "/analyses", {**analysis_form(), "csrf_token": csrf(client)}))
    body = client.get(f"/api/v1/analyses/{analysis_id}").json()
    response = client.get(f"/api/v1/analyses/{analysis_id}/export", params={"format": "html"})
    assert response.status_code == 200
    html = response.text
    assert html.startswith("<!doctype html>")
    assert "<script" not in html and "<form" not in html
    predictions = body["predictions"]
    for text in (
        analysis_id,
        money(predictions["arr"]["value"]),
        money(predictions["arr"]["low"]),
        money(predictions["mrr"]["value"]),
        month_name(predictions["launch_date"]),
        body["top_services"][0]["name"],
        body["sections"]["methodology"][:60],
        body["provenance"]["history_snapshot_id"],
    ):
        assert text in html


def test_static_assets_and_the_vendored_libraries(client: httpx.Client) -> None:
    for path in ("css/app.css", "js/site.js", "js/analyze.js", "js/charts.js", "js/result.js", "js/theme.js"):
        assert client.get(f"/static/{path}").status_code == 200, path
    vendored = [
        ("chartjs", "chart.umd.min.js", "LICENSE.md", "MIT"),
        ("swagger-ui", "swagger-ui-bundle.js", "LICENSE", "Apache License"),
        ("swagger-ui", "swagger-ui.css", "LICENSE", "Apache License"),
    ]
    for folder, name, licence, licence_text in vendored:
        library = client.get(f"/static/vendor/{folder}/{name}")
        assert library.status_code == 200, name
        version = (STATIC_DIR / f"vendor/{folder}/VERSION").read_text()
        assert f"{hashlib.sha256(library.content).hexdigest()}  {name}" in version
        assert licence_text in (STATIC_DIR / f"vendor/{folder}/{licence}").read_text()


@contextmanager
def auth_server(web_settings: WebSettings, **overrides: Any) -> Iterator[tuple[str, str, str]]:
    """A server that requires a token, with a read+write and a read-only token."""
    settings = web_settings(require_auth=True, **overrides)
    writer = create_token(settings, "read", "write", name="writer")
    reader = create_token(settings, "read", name="reader")
    with serving(create_app(settings)) as url:
        yield url, writer, reader


def login(client: httpx.Client, token: str, target: str = "/") -> httpx.Response:
    return post_form(client, "/login", {"token": token, "next": target, "csrf_token": csrf(client, "/login")})


def test_pages_need_a_session_where_the_profile_requires_a_token(web_settings: WebSettings) -> None:
    with auth_server(web_settings) as (url, writer, _), httpx.Client(base_url=url, timeout=120) as client:
        for path in ("/", "/analyses?q=a+b", "/analyses/some-id"):
            response = client.get(path, follow_redirects=False)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next=%2F")
        assert client.get("/analyses?q=a+b", follow_redirects=False).headers["location"] == (
            "/login?next=%2Fanalyses%3Fq%3Da%2Bb"
        )
        assert post_form(client, "/analyses", analysis_form()).headers["location"] == "/login"

        refused = login(client, "ops_nothing_here")
        assert refused.status_code == 401
        assert "not valid" in refused.text
        assert "oppscope_session" not in client.cookies

        accepted = login(client, writer, "/analyses")
        assert accepted.status_code == 303
        assert accepted.headers["location"] == "/analyses"
        cookie = next(c for c in accepted.headers.get_list("set-cookie") if c.startswith("oppscope_session="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie

        page = client.get("/")
        assert page.status_code == 200
        assert "Signed in" in page.text
        analysis_id = created_id(post_form(client, "/analyses", {**analysis_form(), "csrf_token": csrf(client)}))
        assert client.get(f"/analyses/{analysis_id}").status_code == 200
        assert client.get(f"/api/v1/analyses/{analysis_id}/export?format=html").status_code == 200

        logout = post_form(client, "/logout", {"csrf_token": csrf(client)})
        assert logout.status_code == 303
        assert logout.headers["location"] == "/login"
        assert client.get("/", follow_redirects=False).status_code == 303


def test_a_read_only_session_can_look_but_not_analyse(web_settings: WebSettings) -> None:
    with auth_server(web_settings) as (url, _, reader), httpx.Client(base_url=url, timeout=120) as client:
        assert login(client, reader).status_code == 303
        form = client.get("/")
        assert form.status_code == 200
        assert "lacks the “write” scope" in form.text
        response = post_form(client, "/analyses", {**analysis_form(), "csrf_token": csrf(client)})
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("text/html")
        assert "write" in response.text
        assert client.get("/analyses").status_code == 200


def test_login_returns_only_to_a_path_on_this_site(web_settings: WebSettings) -> None:
    with auth_server(web_settings) as (url, writer, _), httpx.Client(base_url=url) as client:
        targets = ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x", "/\x01x", "/login")
        for target in targets:
            response = login(client, writer, target)
            assert response.status_code == 303
            assert response.headers["location"] == "/", target
            assert 'name="next" value="/"' in client.get("/login", params={"next": target}).text
        assert login(client, writer, "/analyses?page=2").headers["location"] == "/analyses?page=2"


def test_cookies_are_secure_where_the_profile_serves_https(web_settings: WebSettings) -> None:
    with auth_server(web_settings, secure_cookies=True) as (url, writer, _), httpx.Client(base_url=url) as client:
        page = client.get("/login")
        csrf_cookie = page.headers["set-cookie"]
        assert "Secure" in csrf_cookie and "HttpOnly" in csrf_cookie and "SameSite=strict" in csrf_cookie
        token = csrf_cookie.split(";")[0].removeprefix("oppscope_csrf=")
        # an http client keeps Secure cookies to itself, so send the one the page set by hand
        response = client.post(
            "/login", data={"token": writer, "csrf_token": token}, headers={"Cookie": f"oppscope_csrf={token}"}
        )
        assert response.status_code == 303
        session = next(c for c in response.headers.get_list("set-cookie") if c.startswith("oppscope_session="))
        assert "Secure" in session and "HttpOnly" in session
        assert page.headers["strict-transport-security"].startswith("max-age=")
