"""Behind a load balancer: the client address comes from X-Forwarded-For, but only via a trusted proxy."""

import pytest

from imvo.platform.security import ForwardedClientMiddleware


async def client_seen(
    trusted: tuple[str, ...], peer: str, forwarded_for: str | None, proto: str | None = None
):
    seen = {}

    async def app(scope, receive, send):
        seen.update(client=scope["client"][0], scheme=scope["scheme"])

    headers = []
    if forwarded_for is not None:
        headers.append((b"x-forwarded-for", forwarded_for.encode()))
    if proto is not None:
        headers.append((b"x-forwarded-proto", proto.encode()))
    scope = {"type": "http", "client": (peer, 5000), "scheme": "http", "headers": headers}
    await ForwardedClientMiddleware(trusted).handle(scope, None, None, app)
    return seen["client"], seen["scheme"]


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded_for", "expected"),
    [
        ((), "10.0.0.5", "203.0.113.7", "10.0.0.5"),  # no proxy configured: the header is ignored
        (("10.0.0.0/8",), "10.0.0.5", "203.0.113.7", "203.0.113.7"),  # through the balancer
        (("10.0.0.0/8",), "198.51.100.9", "203.0.113.7", "198.51.100.9"),  # straight from the internet
        (
            ("10.0.0.0/8",),
            "10.0.0.5",
            "1.2.3.4, 203.0.113.7",
            "203.0.113.7",
        ),  # a client's own claim is skipped
        (("10.0.0.0/8",), "10.0.0.5", "203.0.113.7, 10.0.0.9", "203.0.113.7"),  # two trusted hops
        (("10.0.0.0/8",), "10.0.0.5", "not-an-address", "10.0.0.5"),  # garbage: keep the peer
    ],
)
async def test_the_client_address_is_believed_only_from_trusted_proxies(
    trusted, peer, forwarded_for, expected
):
    client, _ = await client_seen(trusted, peer, forwarded_for)
    assert client == expected


async def test_the_scheme_follows_a_trusted_proxy():
    assert (await client_seen(("10.0.0.0/8",), "10.0.0.5", "203.0.113.7", "https"))[1] == "https"
    assert (await client_seen(("10.0.0.0/8",), "198.51.100.9", "203.0.113.7", "https"))[1] == "http"
