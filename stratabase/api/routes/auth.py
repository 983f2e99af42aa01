"""Sign-up, sign-in, sign-out and the caller's own account."""

from __future__ import annotations

from fastapi import HTTPException, Request, status

from stratabase.api.client_ip import client_ip
from stratabase.api.deps import (
    AuthRateLimited,
    CacheDep,
    CurrentUserDep,
    DatabaseDep,
    RateLimited,
    forget_login_attempts,
    limit_login_attempt,
)
from stratabase.api.routes._router import api_router
from stratabase.api.schemas.auth import LogoutAllOut, RegisterIn, TokenOut
from stratabase.auth import service
from stratabase.schemas.accounts import LoginRequest, UserCreate, UserRead

#: Each route picks its own budget: sign-up and sign-in per IP, the rest per user.
router = api_router("/v1", tag="auth", rate_limited=False)


def _client(request: Request, device: str | None) -> service.ClientInfo:
    return service.ClientInfo(
        device=device,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )


def _token(issued: service.IssuedSession) -> TokenOut:
    return TokenOut(
        token=issued.token,
        expires_at=issued.expires_at,
        user=UserRead.model_validate(issued.user, from_attributes=True),
    )


@router.post(
    "/auth/register",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenOut,
    dependencies=[AuthRateLimited],
)
async def register(
    body: RegisterIn, request: Request, db: DatabaseDep, cache: CacheDep
) -> TokenOut:
    """Create an account and return a bearer token for it."""
    data = UserCreate.model_validate(body.model_dump(exclude={"device"}))
    return _token(await service.register(db, cache, data, _client(request, body.device)))


@router.post("/auth/login", response_model=TokenOut, dependencies=[AuthRateLimited])
async def login(body: LoginRequest, request: Request, db: DatabaseDep) -> TokenOut:
    """Exchange email and password for a bearer token (a new session). Attempts are limited
    per IP and per account (429 with Retry-After)."""
    await limit_login_attempt(request, body.email)
    issued = await service.login(
        db, body.email, body.password.get_secret_value(), _client(request, body.device)
    )
    if issued is None:
        # RFC 9110: every 401 names the scheme that would be accepted.
        raise HTTPException(
            401, detail="wrong email or password", headers={"WWW-Authenticate": "Bearer"}
        )
    await forget_login_attempts(request, body.email)
    return _token(issued)


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[RateLimited],
)
async def logout(principal: CurrentUserDep, db: DatabaseDep, cache: CacheDep) -> None:
    """Revoke the token of this request, effective immediately."""
    await service.logout(db, cache, principal)


@router.post(
    "/auth/logout-all",
    response_model=LogoutAllOut,
    dependencies=[RateLimited],
)
async def logout_all(principal: CurrentUserDep, db: DatabaseDep, cache: CacheDep) -> LogoutAllOut:
    """Revoke every session of the caller ("log out everywhere")."""
    return LogoutAllOut(revoked=await service.logout_all(db, cache, principal))


@router.get("/me", response_model=UserRead, dependencies=[RateLimited])
async def me(principal: CurrentUserDep, db: DatabaseDep) -> UserRead:
    """The caller's own account, with email, role and status."""
    return UserRead.model_validate(await service.account(db, principal), from_attributes=True)
