"""A person's own account: profile and language, password, two-step sign-in and API tokens."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from imvo.platform import accounts, repository, tokens, twofactor
from imvo.platform.auth import SESSION_ACCOUNT, SESSION_EPOCH, requires_session, requires_web_session
from imvo.platform.errors import UserError
from imvo.platform.i18n import N_, available_locales
from imvo.platform.sessions import rotate_session
from imvo.platform.tables import Account
from imvo.platform.web import AnyRequest, current_user, form_data, form_page, page, see_other, t

ENROLMENT = "totp_enrolment"


async def _account(request: AnyRequest) -> Account:
    user = current_user(request)
    assert user is not None  # the guards saw to it
    account = await Account.objects().where(Account.id == user.account_id).first()
    assert account is not None
    return account


class AccountController(Controller):
    path = "/account"
    guards = [requires_web_session]
    include_in_schema = False

    async def _overview(self, request: AnyRequest, status_code: int = 200, **context: Any) -> Template:
        account = await _account(request)
        return page(
            "account/overview.html",
            status_code=status_code,
            account=account,
            locales=available_locales(),
            recovery_left=await twofactor.unused_recovery_codes(account.id),
            **context,
        )

    @get("/")
    async def overview(self, request: AnyRequest) -> Template:
        return await self._overview(request)

    @post("/profile")
    async def profile(self, request: AnyRequest) -> Template | Redirect:
        data, account = await form_data(request), await _account(request)
        name, locale = data.get("name", "").strip(), data.get("locale", "")
        if not name or len(name) > 200:
            return await self._overview(request, 400, errors={"name": t(request, N_("Enter your name."))})
        if locale not in available_locales():
            return await self._overview(request, 400, errors={"locale": t(request, N_("Choose a language."))})
        await Account.update({Account.name: name, Account.locale: locale}).where(Account.id == account.id)
        return see_other(f"/account?lang={locale}")

    @post("/password")
    async def password(self, request: AnyRequest) -> Template | Redirect:
        data, account = await form_data(request), await _account(request)
        try:
            if data.get("new_password", "") != data.get("new_password_again", ""):
                raise UserError(N_("The two passwords are not the same."), field="new_password_again")
            epoch = await accounts.change_password(
                request.app.state.settings,
                account,
                data.get("current_password", ""),
                data.get("new_password", ""),
            )
        except UserError as error:
            return await self._overview(
                request, error.status, errors={error.field or "_form": error.text(request.state.locale)}
            )
        # Other sessions end with the new epoch; this one carries on under a fresh id.
        rotate_session(request, {SESSION_ACCOUNT: account.id, SESSION_EPOCH: epoch})
        return await self._overview(request, notice=t(request, N_("Your password was changed.")))

    async def _tokens_page(self, request: AnyRequest, status_code: int = 200, **context: Any) -> Template:
        user = current_user(request)
        assert user is not None
        return page(
            "account/tokens.html",
            status_code=status_code,
            tokens=await tokens.tokens_of(user.account_id),
            covenants=await repository.covenants_of(user.account_id),
            **context,
        )

    @get("/tokens")
    async def token_list(self, request: AnyRequest) -> Template:
        return await self._tokens_page(request)

    @post("/tokens")
    async def create_token(self, request: AnyRequest) -> Template:
        data, user = await form_data(request), current_user(request)
        assert user is not None
        try:
            days = int(data.get("days", "90") or 0)
            _, secret = await tokens.create_token(
                user.account_id, data.get("covenant", ""), data.get("name", ""), days
            )
        except ValueError:
            error = UserError(
                N_("A token lasts between 1 and %(max)s days."), field="days", max=tokens.MAX_DAYS
            )
            return await self._token_error(request, error)
        except UserError as error:
            return await self._token_error(request, error)
        return await self._tokens_page(request, new_token=secret)

    async def _token_error(self, request: AnyRequest, error: UserError) -> Template:
        errors = {error.field or "_form": error.text(request.state.locale)}
        return await self._tokens_page(request, error.status, errors=errors)

    @post("/tokens/{token_id:int}/revoke")
    async def revoke_token(self, request: AnyRequest, token_id: FromPath[int]) -> Redirect:
        user = current_user(request)
        assert user is not None
        await tokens.revoke_token(user.account_id, token_id)
        return see_other("/account/tokens")


class TwoFactorController(Controller):
    """Enrolment is reachable while it is still owed, so it takes a session rather than a full sign-in."""

    path = "/account/two-factor"
    guards = [requires_session]
    include_in_schema = False

    @get("/")
    async def enrol_form(self, request: AnyRequest) -> Template:
        account = await _account(request)
        if account.totp_enabled_at is not None:
            return page(
                "account/two_factor_on.html", recovery_left=await twofactor.unused_recovery_codes(account.id)
            )
        enrolment = twofactor.start_enrolment(account)
        request.session[ENROLMENT] = enrolment.seed_b32
        return page(
            "account/two_factor_enrol.html",
            enrolment=enrolment,
            required=current_user(request).needs_totp_enrolment,
        )  # type: ignore[union-attr]

    @post("/")
    async def confirm(self, request: AnyRequest) -> Template | Redirect:
        account = await _account(request)
        seed = (request.session or {}).get(ENROLMENT)
        if account.totp_enabled_at is not None or not seed:
            return see_other("/account/two-factor")
        enrolment = twofactor.enrolment_for(account, seed)
        try:
            codes = await twofactor.confirm_enrolment(
                request.app.state.settings, account, enrolment, (await form_data(request)).get("code", "")
            )
        except UserError as error:
            return form_page(request, "account/two_factor_enrol.html", error, enrolment=enrolment)
        request.session.pop(ENROLMENT, None)
        return page("account/recovery_codes.html", codes=codes)

    @post("/recovery-codes")
    async def new_codes(self, request: AnyRequest) -> Template | Redirect:
        account = await _account(request)
        if account.totp_enabled_at is None:
            return see_other("/account/two-factor")
        return page("account/recovery_codes.html", codes=await twofactor.regenerate_recovery_codes(account))
