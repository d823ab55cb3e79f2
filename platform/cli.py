"""The `imvo` command: serve the platform, run the job worker, migrate, load demo data, and administer it.

`main` is the console script. The commands that finish (everything but `serve` and `worker`) are coroutines
reached through `run`, so callers that already run an event loop, such as the tests, can await them.
Exit codes: 0 done, 1 failed (a mistake in the input, or a broken audit chain), 2 wrong usage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

from aiosmtpd.controller import Controller
from granian import Granian
from granian.constants import Interfaces
from piccolo.apps.migrations.tables import Migration

from imvo.platform import accounts, audit, operator
from imvo.platform.db import MigrationError, migrate, write_txn
from imvo.platform.demo import DEMO_PASSWORD, load_demo_data
from imvo.platform.errors import UserError
from imvo.platform.jobs import run_worker
from imvo.platform.mail import start_dev_mail_sink
from imvo.platform.settings import Settings
from imvo.platform.tables import Account, Covenant

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
APP_FACTORY = "imvo.platform.app:create_app"
DEV_MAIL_PORT = 8025


class CommandError(Exception):
    """A mistake the person at the command line can correct; shown without a traceback."""


def _fail(message: str) -> None:
    print(f"imvo: error: {message}", file=sys.stderr)


# ---- the parser --------------------------------------------------------------------------------------------


def _at_least_one(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return int(text)


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
    parser.add_argument(
        "--workers", type=_at_least_one, default=1, help="web processes; more than one needs REDIS_URL"
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line: `imvo <command> [options]`."""
    parser = argparse.ArgumentParser(
        prog="imvo", description="The covenant platform: web server, job worker and administration."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="<command>")

    serve = commands.add_parser("serve", help="apply migrations, then serve the web app with granian")
    _add_server_options(serve)
    commands.add_parser("worker", help="run background jobs from Redis (needs REDIS_URL)")
    commands.add_parser("migrate", help="apply the database migrations that have not run yet")

    demo = commands.add_parser("demo", help="load demo covenants and accounts (safe to run again)")
    demo.add_argument("--serve", action="store_true", help="then serve the platform, as `imvo serve` does")
    _add_server_options(demo)

    covenant = commands.add_parser(
        "create-covenant", help="open a covenant and invite its first secretariat member by mail"
    )
    covenant.add_argument("--slug", required=True, help="short name used in URLs, e.g. textile")
    covenant.add_argument("--name", required=True)
    covenant.add_argument("--sector", required=True)
    covenant.add_argument("--languages", required=True, help="comma-separated locale codes, e.g. nl,en")
    covenant.add_argument("--secretariat-email", required=True, help="who is invited as secretariat")
    covenant.add_argument("--operator-email", required=True, help="the operator account that opens it")

    user = commands.add_parser("create-user", help="create an account (prints a link to set its password)")
    user.add_argument("--email", required=True)
    user.add_argument("--name", required=True)
    user.add_argument("--operator", action="store_true", help="a platform operator")
    user.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )

    verify = commands.add_parser("verify-audit", help="check that the audit log's hash chains are intact")
    verify.add_argument("--covenant", metavar="SLUG", help="only this covenant's chain")
    return parser


# ---- commands that finish ----------------------------------------------------------------------------------


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def _unreachable(settings: Settings, error: OSError) -> str:
    return f"cannot reach the database at {_without_password(settings.database_url)}: {error}"


async def _migrations_run() -> set[str]:
    if not await Migration.table_exists():
        return set()
    return {row["name"] for row in await Migration.select(Migration.name)}


async def apply_migrations(settings: Settings) -> None:
    """Apply the migrations not yet run, and say which (Piccolo's own chatter is kept back)."""
    before = await _migrations_run()
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter):
            await migrate()
    except MigrationError as error:
        raise CommandError(f"the migrations failed: {error}\n{chatter.getvalue()}") from error
    applied = sorted(await _migrations_run() - before)
    database = _without_password(settings.database_url)
    if applied:
        print(f"Applied {len(applied)} migration(s) to {database}:")
        for name in applied:
            print(f"  {name}")
    else:
        print(f"The database is up to date ({database}).")


async def _migrate(_args: argparse.Namespace, settings: Settings) -> int:
    await apply_migrations(settings)
    return EXIT_OK


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


async def _demo(_args: argparse.Namespace, settings: Settings) -> int:
    await apply_migrations(settings)
    people = await load_demo_data(settings)
    print("\nDemo data is ready. Sign in with any of these accounts; the password of each is:")
    print(f"\n  {DEMO_PASSWORD}\n")
    rows = [
        (
            person.email,
            ", ".join(["operator"] if person.is_operator else [role.value for role in person.roles]),
            person.covenant or "(whole platform)",
            "yes" if person.needs_two_step else "",
        )
        for person in people
    ]
    _print_table(("E-mail", "Roles", "Covenant", "Two-step sign-in"), rows)
    print(
        "\nAccounts marked 'yes' (operator, secretariat, handler, custodian) are asked to set up two-step"
        "\nsign-in with an authenticator app the first time they sign in."
    )
    print(f"\nSign in at {settings.base_url}/sign-in")
    return EXIT_OK


def _languages(text: str) -> list[str]:
    return [code.strip() for code in text.split(",") if code.strip()]


async def _create_covenant(args: argparse.Namespace, settings: Settings) -> int:
    email = accounts.normalise_email(args.operator_email)
    actor = await Account.objects().where(Account.email == email).first()
    if actor is None or not actor.is_operator:
        raise CommandError(
            f"{email} is not a platform operator's account (make one with `imvo create-user --operator`)."
        )
    languages = _languages(args.languages)
    covenant = await operator.open_covenant(
        settings,
        slug=args.slug,
        name=args.name,
        sector=args.sector,
        languages=languages,
        operator_id=actor.id,
        secretariat_email=args.secretariat_email,
        invitation_locale=languages[0] if languages else settings.default_locale,
    )
    print(f"Opened covenant {covenant.slug!r} ({covenant.name}) in {', '.join(covenant.languages)}.")
    print(f"Its workspace: {settings.base_url}/c/{covenant.slug}")
    print(
        f"The invitation to {accounts.normalise_email(args.secretariat_email)} is queued; the job runner of"
        " `imvo serve` (or `imvo worker`, with REDIS_URL) mails it."
    )
    return EXIT_OK


def _password_from_stdin() -> str:
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise CommandError("--password-stdin was given, but the first line of standard input is empty.")
    return line


async def _password_link(settings: Settings, account_id: int) -> str:
    """A one-off link to set the password of an account, made here rather than mailed."""
    return accounts.reset_link(settings, await accounts.open_password_reset(account_id))


async def _create_user(args: argparse.Namespace, settings: Settings) -> int:
    password = _password_from_stdin() if args.password_stdin else None
    async with write_txn():  # the account and its link, or neither
        account = await accounts.create_account(
            settings,
            email=args.email,
            name=args.name,
            password=password,
            locale=settings.default_locale,
            is_operator=args.operator,
        )
        link = None if password else await _password_link(settings, account.id)
    kind = "operator account" if account.is_operator else "account"
    print(f"Created the {kind} {account.email}.")
    if link:
        hours = int(accounts.RESET_VALID_FOR.total_seconds() // 3600)
        print(f"It has no password yet. This link sets one; it works once, within {hours} hour(s):")
        print(f"\n  {link}\n")
    if account.is_operator:
        print("Operators set up two-step sign-in the first time they sign in.")
    return EXIT_OK


async def _verify_audit(args: argparse.Namespace, _settings: Settings) -> int:
    slugs = {
        audit.covenant_chain(row["id"]): row["slug"]
        for row in await Covenant.select(Covenant.id, Covenant.slug)
    }
    if args.covenant:
        chain = next((chain for chain, slug in slugs.items() if slug == args.covenant), None)
        if chain is None:
            raise CommandError(f"there is no covenant with the short name {args.covenant!r}.")
        reports = [await audit.verify_chain(chain)]
    else:
        reports = await audit.verify_all()
    if not reports:
        print("The audit log has no entries yet.")
    for report in reports:
        label = f"{report.chain} ({slugs[report.chain]})" if report.chain in slugs else report.chain
        state = "intact" if report.intact else "BROKEN"
        print(f"{label}: {report.entries} entries, {state}")
        for problem in report.problems:
            print(f"  - {problem}")
    broken = [report for report in reports if not report.intact]
    if broken:
        print(
            f"\n{len(broken)} of {len(reports)} chain(s) broken: "
            "the audit log was changed outside the platform."
        )
        return EXIT_FAILED
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], Awaitable[int]]] = {
    "migrate": _migrate,
    "demo": _demo,
    "create-covenant": _create_covenant,
    "create-user": _create_user,
    "verify-audit": _verify_audit,
}


async def run_command(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """Run one of COMMANDS; a mistake in the input becomes a message and exit code 1, not a traceback."""
    settings = settings or Settings.from_env()
    try:
        return await COMMANDS[args.command](args, settings)
    except UserError as error:
        _fail(error.text(settings.default_locale))
    except CommandError as error:
        _fail(str(error))
    except OSError as error:  # the database server does not answer
        _fail(_unreachable(settings, error))
    return EXIT_FAILED


async def run(argv: Sequence[str], settings: Settings | None = None) -> int:
    """Run a command that finishes, inside the running event loop; `settings` defaults to the environment.

    `serve` and `worker` run until stopped and own their event loops: only `main` starts them, and
    `demo --serve` here only loads the demo data.
    """
    args = build_parser().parse_args(list(argv))
    if args.command not in COMMANDS:
        _fail(f"`imvo {args.command}` runs until it is stopped; start it from the shell.")
        return EXIT_USAGE
    return await run_command(args, settings)


# ---- commands that run until stopped -----------------------------------------------------------------------


def _use_base_url_of(args: argparse.Namespace) -> None:
    """Without BASE_URL, links in mails point at the address this server listens on."""
    if not os.environ.get("BASE_URL"):
        host = "127.0.0.1" if args.host in {"0.0.0.0", "::", ""} else args.host  # noqa: S104
        host = f"[{host}]" if ":" in host else host
        os.environ["BASE_URL"] = f"http://{host}:{args.port}"


def _start_dev_mail_sink(settings: Settings) -> Controller:
    """Without SMTP_HOST, mail goes to a local sink that keeps each message as an .eml file."""
    try:
        sink = start_dev_mail_sink(settings.data_dir, port=DEV_MAIL_PORT)
    except OSError as error:
        raise CommandError(
            f"cannot start the development mail sink on port {DEV_MAIL_PORT} ({error}); set SMTP_HOST"
            " to use a mail server instead."
        ) from error
    # Set before granian starts its worker processes, which read their settings from the environment.
    os.environ.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(DEV_MAIL_PORT), SMTP_TLS="none")
    print(f"Mail is not sent: each message is saved as an .eml file in {settings.data_dir / 'mail'}")
    return sink


def serve(args: argparse.Namespace) -> int:
    """Apply migrations, then serve the app with granian until interrupted."""
    _use_base_url_of(args)
    # Read once here so that, without SECRET_KEY, the key file exists before the worker processes start.
    settings = Settings.from_env()
    if args.workers > 1 and settings.redis_url is None:
        raise CommandError(
            "more than one web process needs REDIS_URL: without Redis, sessions and rate limits live in the"
            " memory of each process, and a person would be signed out whenever another process answered."
        )
    try:
        asyncio.run(apply_migrations(settings))
    except OSError as error:
        raise CommandError(_unreachable(settings, error)) from error
    sink = _start_dev_mail_sink(settings) if settings.smtp_host is None else None
    jobs = "in this process" if settings.redis_url is None else "by `imvo worker` (REDIS_URL is set)"
    print(f"Background jobs run {jobs}.")
    print(f"\nThe platform is at {settings.base_url}  (Ctrl-C stops it)\n", flush=True)
    try:
        Granian(
            APP_FACTORY,
            address=args.host,
            port=args.port,
            interface=Interfaces.ASGI,
            workers=args.workers,
            factory=True,
        ).serve()
    finally:
        if sink is not None:
            sink.stop()
    return EXIT_OK


def work(_args: argparse.Namespace) -> int:
    """Run the arq worker, which takes the jobs the web processes relay to Redis."""
    settings = Settings.from_env()
    if not settings.redis_url:
        raise CommandError(
            "`imvo worker` needs REDIS_URL (e.g. redis://127.0.0.1:6379/0). Without Redis there is no"
            " worker to run: `imvo serve` runs the background jobs itself."
        )
    # arq reports start-up, jobs and shutdown through logging, which is otherwise silent.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    print(
        f"The job worker takes jobs from {_without_password(settings.redis_url)}  (Ctrl-C stops it)",
        flush=True,
    )
    run_worker(settings)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """The console script `imvo`."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return serve(args)
        if args.command == "worker":
            return work(args)
        if args.command == "demo" and args.serve:
            _use_base_url_of(args)  # so the printed sign-in URL is the one about to be served
        code = asyncio.run(run_command(args))
        if code == EXIT_OK and args.command == "demo" and args.serve:
            return serve(args)
        return code
    except CommandError as error:
        _fail(str(error))
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
