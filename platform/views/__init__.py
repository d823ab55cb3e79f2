"""The platform's HTML pages."""

from imvo.platform.views.account import AccountController, TwoFactorController
from imvo.platform.views.signin import SignInController
from imvo.platform.views.workspace import ROUTES as WORKSPACE_ROUTES

ROUTES = [SignInController, AccountController, TwoFactorController, *WORKSPACE_ROUTES]
