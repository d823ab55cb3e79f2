async def test_start_page_renders(client):
    response = await client.get("/")
    assert response.status_code == 200
    assert "Sign in" in response.text
