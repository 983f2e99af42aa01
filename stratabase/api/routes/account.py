"""Account self-service. Signed-in routes live under ``/v1/me/…``; the mailed-token flows
that work without a sign-in (password reset, email verification) under ``/v1/account/…``."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import BackgroundTasks, status

from stratabase.accounts.inputs import (
    AccountDeletion,
    PasswordChange,
    ProfileUpdate,
    ResetConfirm,
    ResetRequest,
    TokenIn,
)
from stratabase.accounts.results import ExportInfo, OwnAccount
from stratabase.api.deps import AccountsDep, AuthRateLimited, CurrentUserDep, RateLimited
from stratabase.api.routes._params import DEFAULT, Cursor, Limit, ObjectId
from stratabase.api.routes._router import api_router
from stratabase.api.schemas.account import (
    AcceptedOut,
    ExportOut,
    OwnAccountOut,
    RevokedOut,
    SessionOut,
)
from stratabase.api.schemas.common import PageOut

#: Signed-in routes are limited per user; the anonymous token flows per IP (auth budget).
router = api_router("/v1", tag="account", rate_limited=False)

#: The same answer whether or not the email has an account.
RESET_ACCEPTED = "if an account has this email, a reset message is on its way"


def _own(found: OwnAccount) -> OwnAccountOut:
    return OwnAccountOut.model_validate(
        {**asdict(found.account), "email_verified": found.email_verified}
    )


def _export(found: ExportInfo) -> ExportOut:
    return ExportOut.model_validate(asdict(found))


@router.get("/me/account", response_model=OwnAccountOut, dependencies=[RateLimited])
async def my_account(principal: CurrentUserDep, accounts: AccountsDep) -> OwnAccountOut:
    """The caller's account with ``email_verified``."""
    return _own(await accounts.me(principal))


@router.patch("/me", response_model=OwnAccountOut, dependencies=[RateLimited])
async def edit_profile(
    body: ProfileUpdate, principal: CurrentUserDep, accounts: AccountsDep
) -> OwnAccountOut:
    """Edit name, username (409 on ``username`` when taken), bio, avatar URL or timezone
    (IANA). Only the fields sent change; the public profile shows them at once."""
    return _own(await accounts.update_profile(principal, body))


@router.post("/me/password", response_model=RevokedOut, dependencies=[RateLimited])
async def change_password(
    body: PasswordChange, principal: CurrentUserDep, accounts: AccountsDep
) -> RevokedOut:
    """Change the password (the current one required, 403 on ``current_password`` when
    wrong); every other session is revoked, this one stays."""
    revoked = await accounts.change_password(
        principal, body.current_password.get_secret_value(), body.new_password.get_secret_value()
    )
    return RevokedOut(revoked=revoked)


@router.post(
    "/account/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AcceptedOut,
    dependencies=[AuthRateLimited],
)
async def request_reset(
    body: ResetRequest, accounts: AccountsDep, background: BackgroundTasks
) -> AcceptedOut:
    """Mail a single-use reset token to the account with this email. The answer is the
    same for unknown emails and is sent before the lookup runs (a background task), so its
    timing tells nothing either."""
    background.add_task(accounts.send_reset, body.email)
    return AcceptedOut(detail=RESET_ACCEPTED)


@router.post(
    "/account/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[AuthRateLimited],
)
async def confirm_reset(body: ResetConfirm, accounts: AccountsDep) -> None:
    """Set a new password with a mailed token (good once, until it expires: 422 on
    ``token`` otherwise); every session of the account is revoked."""
    await accounts.confirm_reset(body.token, body.new_password.get_secret_value())


@router.post(
    "/me/email-verification",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AcceptedOut,
    dependencies=[RateLimited],
)
async def request_verification(
    principal: CurrentUserDep, accounts: AccountsDep, background: BackgroundTasks
) -> AcceptedOut:
    """Mail a verification token to the caller's email (409 when already verified)."""
    pending = await accounts.request_verification(principal)
    background.add_task(accounts.deliver, pending)
    return AcceptedOut(detail="a verification message is on its way")


@router.post(
    "/account/verify-email",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[AuthRateLimited],
)
async def verify_email(body: TokenIn, accounts: AccountsDep) -> None:
    """Verify an email with its mailed token (good once, until it expires)."""
    await accounts.verify_email(body.token)


@router.get("/me/sessions", response_model=PageOut[SessionOut], dependencies=[RateLimited])
async def my_sessions(
    principal: CurrentUserDep,
    accounts: AccountsDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
) -> PageOut[SessionOut]:
    """The caller's live sessions by device, newest first; ``current`` marks this one."""
    page = await accounts.sessions(principal, cursor=cursor, limit=limit)
    return PageOut[SessionOut](
        items=[SessionOut.model_validate(asdict(item)) for item in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.delete(
    "/me/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[RateLimited],
)
async def revoke_session(
    session_id: ObjectId, principal: CurrentUserDep, accounts: AccountsDep
) -> None:
    """Revoke one of the caller's sessions (404 for anyone else's)."""
    await accounts.revoke_session(principal, session_id)


@router.post("/me/sessions/revoke-others", response_model=RevokedOut, dependencies=[RateLimited])
async def revoke_other_sessions(principal: CurrentUserDep, accounts: AccountsDep) -> RevokedOut:
    """Revoke every session of the caller except the one making this request."""
    return RevokedOut(revoked=await accounts.revoke_other_sessions(principal))


@router.post("/me/delete", status_code=status.HTTP_204_NO_CONTENT, dependencies=[RateLimited])
async def delete_account(
    body: AccountDeletion, principal: CurrentUserDep, accounts: AccountsDep
) -> None:
    """Delete the caller's account (password required, 403 on ``password``). Refused with
    409 on ``wallet`` while the wallet holds tokens or open holds. Posts and comments stay
    under a "Deleted user" placeholder; profile data, graph edges and sessions go."""
    await accounts.delete_account(principal, body.password.get_secret_value())


@router.post(
    "/me/exports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExportOut,
    dependencies=[RateLimited],
)
async def start_export(principal: CurrentUserDep, accounts: AccountsDep) -> ExportOut:
    """Queue a JSON export of the caller's data; poll ``GET /v1/me/exports/{id}``."""
    return _export(await accounts.start_export(principal))


@router.get("/me/exports/{export_id}", response_model=ExportOut, dependencies=[RateLimited])
async def get_export(
    export_id: ObjectId, principal: CurrentUserDep, accounts: AccountsDep
) -> ExportOut:
    """One of the caller's exports; ``data`` holds the document once ``done`` (404 for
    anyone else's)."""
    return _export(await accounts.get_export(principal, export_id))
