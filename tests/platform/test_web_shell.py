"""The web shell: security headers, error pages in the right form, health, the OpenAPI schema."""

from imvo.platform.security import CONTENT_SECURITY_POLICY
from tests.helpers import make_person, sign_in


async def test_pages_carry_a_strict_content_security_policy(client):
    response = await client.get("/sign-in")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


async def test_pages_have_no_inline_script_or_style_and_load_nothing_from_elsewhere(client, settings):
    person = await make_person(settings, "ana@example.org")
    await sign_in(client, person)
    for path in ("/", "/account", "/account/tokens", "/sign-in", "/password/forgot"):
        html = (await client.get(path)).text
        assert "<script" not in html, path
        assert "style=" not in html and "<style" not in html, path
        assert "http://" not in html.replace("http://testserver", "") and "https://" not in html, path


async def test_an_unknown_page_is_a_404_page_with_the_headers_too(client):
    response = await client.get("/no/such/page", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>" in response.text
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


async def test_api_errors_are_json(client):
    response = await client.get("/api/v1/covenants/x")
    assert response.status_code in (401, 404)
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["detail"]


async def test_a_client_asking_for_json_gets_json_errors_outside_the_api_too(client):
    response = await client.get("/no/such/page", headers={"accept": "application/json"})
    assert response.status_code == 404
    assert response.json() == {"status_code": 404, "detail": response.json()["detail"]}


async def test_health_reports_the_database_and_redis(client, settings):
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert ("redis" in body) == (settings.redis_url is not None)


async def test_the_openapi_schema_describes_the_api_only(client):
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/me" in paths
    assert "/api/v1/covenants/{slug}/invitations" in paths
    assert not [p for p in paths if not p.startswith("/api/")]
    assert response.json()["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"


async def test_static_files_are_served(client):
    response = await client.get("/static/app.css")
    assert response.status_code == 200
    assert "text/css" in response.headers["content-type"]


async def test_no_input_makes_a_server_error(client, settings):
    """Odd values in the places people can type get a clear answer, never a 500."""
    person = await make_person(settings, "ana@example.org")
    await sign_in(client, person)
    odd = [
        "",
        " ",
        "\x00",
        "é" * 5000,
        "' OR 1=1 --",
        "../../etc/passwd",
        "<script>x</script>",
        "99999999999999999999",
    ]
    for value in odd:
        for path in (
            f"/c/{value}",
            f"/password/reset/{value}",
            f"/invitations/{value}",
            f"/api/v1/covenants/{value}",
        ):
            response = await client.get(path.replace("\x00", "%00"))
            assert response.status_code < 500, (path, response.status_code)
        for path, field in (
            ("/account/tokens", "days"),
            ("/account/profile", "locale"),
            ("/sign-in", "email"),
        ):
            response = await client.post(
                path,
                data={field: value, "name": value},
                headers={"x-csrftoken": client.cookies.get("imvo_csrf", "")},
            )
            assert response.status_code < 500, (path, value, response.status_code)


async def test_out_of_range_numbers_and_nul_characters_are_bad_input(client, settings):
    person = await make_person(settings, "ana@example.org")
    await sign_in(client, person)
    headers = {"x-csrftoken": client.cookies.get("imvo_csrf", "")}
    huge = await client.post("/account/tokens/99999999999999999999/revoke", headers=headers)
    assert huge.status_code in (400, 404)
    nul_name = await client.post(
        "/account/profile", data={"name": "A\x00na", "locale": "en"}, headers=headers
    )
    assert nul_name.status_code == 303
    assert "A\x00na" not in (await client.get("/account")).text


async def test_over_https_cookies_are_host_only_secure_and_hidden_from_scripts(settings):
    import httpx as _httpx

    from imvo.platform.app import create_app

    app = create_app(settings.with_(base_url="https://covenants.example.org"))
    async with _httpx.AsyncClient(
        transport=_httpx.ASGITransport(app=app), base_url="https://testserver"
    ) as c:
        response = await c.get("/sign-in")
    cookies = response.headers.get_list("set-cookie")
    csrf = next(cookie for cookie in cookies if cookie.startswith("__Host-imvo_csrf="))
    assert "Secure" in csrf and "HttpOnly" in csrf and "Path=/" in csrf and "Domain" not in csrf
    assert response.headers["strict-transport-security"].startswith("max-age=")
