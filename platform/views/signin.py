"""Signing in and out, forgotten passwords and accepting invitations."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from imvo.platform import accounts, twofactor
from imvo.platform.auth import SESSION_ACCOUNT, SESSION_EPOCH
from imvo.platform.crypto import token_hash
from imvo.platform.errors import UserError
from imvo.platform.i18n import LANG_COOKIE, N_, available_locales, language_cookie
from imvo.platform.sessions import rotate_session
from imvo.platform.settings import Settings
from imvo.platform.tables import Account, Covenant
from imvo.platform.web import AnyRequest, current_user, form_data, form_page, page, safe_next, see_other, t

PENDING_ACCOUNT = "pending_account_id"
PENDING_SINCE = "pending_since"
PENDING_NEXT = "pending_next"
SECOND_STEP_SECONDS = 300
WINDOW = 15 * 60


def _settings(request: AnyRequest) -> Settings:
    return request.app.state.settings


async def _allowed(request: AnyRequest, key: str, limit: int) -> bool:
    # Hashed: the counters (in Redis, say) never hold an address, e-mail or IP.
    return await request.app.state.rate_limiter.hit(token_hash(key), limit, WINDOW)


async def _finish_sign_in(request: AnyRequest, account: Account, next_path: str) -> Redirect:
    await Account.update({Account.last_sign_in_at: datetime.now(UTC)}).where(Account.id == account.id)
    rotate_session(request, {SESSION_ACCOUNT: account.id, SESSION_EPOCH: account.session_epoch})
    response = see_other(safe_next(next_path))
    # On a new device the pages take the account's language, unless this browser already chose one.
    if LANG_COOKIE not in request.cookies and account.locale in available_locales():
        response.set_cookie(language_cookie(account.locale, _settings(request).https))
    return response


class SignInController(Controller):
    path = "/"
    include_in_schema = False

    @get("/sign-in")
    async def sign_in_form(self, request: AnyRequest, next: FromQuery[str] = "/") -> Template | Redirect:
        if current_user(request):
            return see_other(safe_next(next))
        return page("sign_in.html", next=safe_next(next))

    @post("/sign-in")
    async def sign_in(self, request: AnyRequest) -> Template | Redirect:
        data = await form_data(request)
        email, next_path = data.get("email", "").strip(), safe_next(data.get("next"))
        settings = _settings(request)
        client = request.client.host if request.client else "unknown"
        if not (
            await _allowed(request, f"sign-in:email:{email.casefold()}", settings.login_attempts_per_15_min)
            and await _allowed(request, f"sign-in:client:{client}", settings.login_attempts_per_15_min * 5)
        ):
            error = UserError(N_("Too many attempts. Wait a few minutes and try again."), status=429)
            return form_page(request, "sign_in.html", error, email=email, next=next_path)
        account = await accounts.authenticate(settings, email, data.get("password", ""))
        if account is None:
            error = UserError(N_("The e-mail address or password is not correct."), status=400)
            return form_page(request, "sign_in.html", error, email=email, next=next_path)
        if account.totp_enabled_at is not None:
            rotate_session(
                request,
                {PENDING_ACCOUNT: account.id, PENDING_SINCE: int(time.time()), PENDING_NEXT: next_path},
            )
            return see_other("/sign-in/two-step")
        return await _finish_sign_in(request, account, next_path)

    async def _pending_account(self, request: AnyRequest) -> Account | None:
        session = request.session or {}
        account_id, since = session.get(PENDING_ACCOUNT), session.get(PENDING_SINCE, 0)
        if not account_id or time.time() - since > SECOND_STEP_SECONDS:
            return None
        return await Account.objects().where(Account.id == account_id).first()

    @get("/sign-in/two-step")
    async def second_step_form(self, request: AnyRequest) -> Template | Redirect:
        if await self._pending_account(request) is None:
            return see_other("/sign-in")
        return page("sign_in_two_step.html")

    @post("/sign-in/two-step")
    async def second_step(self, request: AnyRequest) -> Template | Redirect:
        account = await self._pending_account(request)
        if account is None:
            return see_other("/sign-in")
        if not await _allowed(
            request, f"two-step:{account.id}", _settings(request).login_attempts_per_15_min
        ):
            error = UserError(N_("Too many attempts. Wait a few minutes and try again."), status=429)
            return form_page(request, "sign_in_two_step.html", error)
        code = (await form_data(request)).get("code", "")
        if not await twofactor.verify_second_factor(_settings(request), account, code):
            error = UserError(N_("That code is not correct."), field="code")
            return form_page(request, "sign_in_two_step.html", error)
        return await _finish_sign_in(request, account, request.session.get(PENDING_NEXT, "/"))

    @post("/sign-out")
    async def sign_out(self, request: AnyRequest) -> Redirect:
        request.clear_session()
        return see_other("/sign-in?signed_out=1")

    @get("/password/forgot")
    async def forgot_form(self) -> Template:
        return page("password_forgot.html")

    @post("/password/forgot")
    async def forgot(self, request: AnyRequest) -> Template:
        email = (await form_data(request)).get("email", "")
        if not await _allowed(request, f"reset:{email.strip().casefold()}", 5):
            error = UserError(N_("Too many attempts. Wait a few minutes and try again."), status=429)
            return form_page(request, "password_forgot.html", error, email=email)
        await accounts.request_password_reset(email)
        return page("password_forgot.html", sent=True)

    @get("/password/reset/{token:str}")
    async def reset_form(self, request: AnyRequest, token: FromPath[str]) -> Template:
        try:
            await accounts.password_reset_for(_settings(request), token)
        except UserError as error:
            return page("message.html", status_code=400, heading=error.text(request.state.locale))
        return page("password_reset.html", token=token)

    @post("/password/reset/{token:str}")
    async def reset(self, request: AnyRequest, token: FromPath[str]) -> Template | Redirect:
        data = await form_data(request)
        if data.get("password", "") != data.get("password_again", ""):
            error = UserError(N_("The two passwords are not the same."), field="password_again")
            return form_page(request, "password_reset.html", error, token=token)
        try:
            await accounts.reset_password(_settings(request), token, data.get("password", ""))
        except UserError as error:
            return form_page(request, "password_reset.html", error, token=token)
        request.clear_session()
        return page(
            "message.html",
            heading=t(request, N_("Your password was changed. You can sign in now.")),
            link="/sign-in",
            link_text=t(request, N_("Sign in")),
        )

    @get("/invitations/{token:str}")
    async def invitation(self, request: AnyRequest, token: FromPath[str]) -> Template:
        try:
            found = await accounts.invitation_for(_settings(request), token)
        except UserError as error:
            return page("message.html", status_code=400, heading=error.text(request.state.locale))
        return page("invitation.html", token=token, found=found)

    @post("/invitations/{token:str}")
    async def accept(self, request: AnyRequest, token: FromPath[str]) -> Template | Redirect:
        data, settings = await form_data(request), _settings(request)
        user = current_user(request)
        try:
            found = await accounts.invitation_for(settings, token)
            if found.account is None and data.get("password", "") != data.get("password_again", ""):
                raise UserError(N_("The two passwords are not the same."), field="password_again")
            account = await accounts.accept_invitation(
                settings,
                token,
                signed_in_account_id=user.account_id if user else None,
                name=data.get("name", ""),
                password=data.get("password", ""),
            )
        except UserError as error:
            context: dict[str, Any] = {"token": token, "name": data.get("name", "")}
            try:
                context["found"] = await accounts.invitation_for(settings, token)
            except UserError:
                return page("message.html", status_code=400, heading=error.text(request.state.locale))
            return form_page(request, "invitation.html", error, **context)
        account = await Account.objects().where(Account.id == account.id).first()
        assert account is not None
        return await _finish_sign_in(request, account, f"/c/{await _slug_of(found.invitation.covenant)}")


async def _slug_of(covenant_id: int) -> str:
    row = await Covenant.select(Covenant.slug).where(Covenant.id == covenant_id).first()
    return row["slug"] if row else ""
