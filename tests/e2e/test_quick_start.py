"""The README's first command, `./dev demo` (= `imvo demo --serve`), really serves the demo: over HTTP, with
SQLite, in-process jobs and the development mail sink, as on a machine with nothing but Python."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import free_port, stop_server, wait_until_healthy

MAIL_SINK_PORT = 8025  # fixed in `imvo serve`


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.skipif(not _port_is_free(MAIL_SINK_PORT), reason="port 8025 (the dev mail sink) is taken")
def test_the_demo_command_serves_the_demo_and_keeps_its_mail(tmp_path: Path) -> None:
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "SMTP_HOST", "SMTP_PORT", "BASE_URL", "SECRET_KEY"}
    }
    env.update(DATA_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from imvo.platform.cli import main; sys.exit(main())",
                "demo",
                "--serve",
                "--port",
                str(port),
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(server, url, log)
        printed = log.read_text()
        assert "demo-password" in printed and "sustainability@noordzee-fashion.example.org" in printed

        with httpx.Client(base_url=url, timeout=10) as browser:
            browser.get("/sign-in")
            csrf = {"x-csrftoken": browser.cookies["imvo_csrf"]}
            signed_in = browser.post(
                "/sign-in",
                data={"email": "sustainability@noordzee-fashion.example.org", "password": "demo-password"},
                headers=csrf,
            )
            assert signed_in.status_code == 303
            assert "Agreement on Sustainable Garments and Textile" in browser.get("/").text

            browser.post("/password/forgot", data={"email": "csr@linnen-en-co.example.org"}, headers=csrf)
        mail_folder = tmp_path / "mail"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not list(mail_folder.glob("*.eml")):
            time.sleep(0.2)
        mails = list(mail_folder.glob("*.eml"))
        assert len(mails) == 1, log.read_text()[-3000:]
        assert "csr@linnen-en-co.example.org" in mails[0].read_text()
    finally:
        stop_server(server)
