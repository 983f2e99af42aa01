"""Organizations, members and roles, invitations, leave and transfer of ownership.

A caller sees only the organizations they belong to: any other is 404, as if it did not
exist. Invitation tokens are used at ``/v1/invitations/accept`` and ``…/decline``.
"""

from __future__ import annotations

from typing import TypeVar

from fastapi import Response, status

from stratabase.api.deps import CurrentUserDep, CursorsDep, DatabaseDep, WriterUserDep
from stratabase.api.routes._params import DEFAULT, Cursor, Limit, ObjectId
from stratabase.api.routes._router import public_router
from stratabase.api.schemas.common import PageOut
from stratabase.pagination import Page
from stratabase.publishing import service
from stratabase.publishing.inputs import (
    InvitationCreate,
    InvitationToken,
    OrganizationCreate,
    OwnershipTransfer,
    RoleChange,
)
from stratabase.publishing.results import (
    InvitationIssued,
    InvitationRead,
    MemberRead,
    OrganizationRead,
)

router = public_router("/v1/organizations", "organizations")
#: Where an invited person uses their token (they are not a member yet).
invitations_router = public_router("/v1/invitations", "organizations")

T = TypeVar("T")


def page_out(page: Page[T]) -> PageOut[T]:
    """A service page as the API's page."""
    return PageOut[T](items=page.items, next_cursor=page.next_cursor, has_more=page.has_more)


@router.post("", response_model=OrganizationRead, status_code=201)
async def create_organization(
    principal: WriterUserDep, db: DatabaseDep, body: OrganizationCreate
) -> OrganizationRead:
    """Create an organization (free plan); the caller is its owner."""
    return await service.create_organization(db, principal, body)


@router.get("", response_model=PageOut[OrganizationRead])
async def list_organizations(
    principal: CurrentUserDep,
    db: DatabaseDep,
    codec: CursorsDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
) -> PageOut[OrganizationRead]:
    """The organizations the caller belongs to, with their role in each."""
    page = await service.list_organizations(db, principal, codec=codec, cursor=cursor, limit=limit)
    return page_out(page)


@router.get("/{organization_id}", response_model=OrganizationRead)
async def get_organization(
    organization_id: ObjectId, principal: CurrentUserDep, db: DatabaseDep
) -> OrganizationRead:
    """One of the caller's organizations (404 for any other)."""
    return await service.get_organization(db, principal, organization_id)


@router.get("/{organization_id}/members", response_model=PageOut[MemberRead])
async def list_members(
    organization_id: ObjectId,
    principal: CurrentUserDep,
    db: DatabaseDep,
    codec: CursorsDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
) -> PageOut[MemberRead]:
    """The organization's members and their roles, by user id."""
    page = await service.list_members(
        db, principal, organization_id, codec=codec, cursor=cursor, limit=limit
    )
    return page_out(page)


@router.patch("/{organization_id}/members/{user_id}", response_model=MemberRead)
async def change_role(
    organization_id: ObjectId,
    user_id: ObjectId,
    principal: WriterUserDep,
    db: DatabaseDep,
    body: RoleChange,
) -> MemberRead:
    """Make a member an admin or a member (admins and the owner)."""
    return await service.change_role(db, principal, organization_id, user_id, body.role)


@router.delete("/{organization_id}/members/{user_id}", status_code=204)
async def remove_member(
    organization_id: ObjectId, user_id: ObjectId, principal: WriterUserDep, db: DatabaseDep
) -> Response:
    """Remove a member (admins and the owner; never the owner)."""
    await service.remove_member(db, principal, organization_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{organization_id}/leave", status_code=204)
async def leave(organization_id: ObjectId, principal: CurrentUserDep, db: DatabaseDep) -> Response:
    """Leave the organization (409 for its last owner: transfer ownership first)."""
    await service.leave(db, principal, organization_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{organization_id}/transfer", response_model=OrganizationRead)
async def transfer_ownership(
    organization_id: ObjectId, principal: WriterUserDep, db: DatabaseDep, body: OwnershipTransfer
) -> OrganizationRead:
    """The owner makes another member the owner and becomes an admin."""
    return await service.transfer_ownership(db, principal, organization_id, body.user_id)


@router.post("/{organization_id}/invitations", response_model=InvitationIssued, status_code=201)
async def invite(
    organization_id: ObjectId, principal: WriterUserDep, db: DatabaseDep, body: InvitationCreate
) -> InvitationIssued:
    """Invite an email address (admins and the owner). The token is answered here once,
    to send to the address; it is good for 7 days, once."""
    return await service.invite(db, principal, organization_id, body)


@router.get("/{organization_id}/invitations", response_model=PageOut[InvitationRead])
async def list_invitations(
    organization_id: ObjectId,
    principal: CurrentUserDep,
    db: DatabaseDep,
    codec: CursorsDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
) -> PageOut[InvitationRead]:
    """The organization's invitations, newest first (admins and the owner)."""
    page = await service.list_invitations(
        db, principal, organization_id, codec=codec, cursor=cursor, limit=limit
    )
    return page_out(page)


@router.delete("/{organization_id}/invitations/{invitation_id}", response_model=InvitationRead)
async def revoke_invitation(
    organization_id: ObjectId, invitation_id: ObjectId, principal: WriterUserDep, db: DatabaseDep
) -> InvitationRead:
    """Revoke a pending invitation (admins and the owner)."""
    return await service.revoke_invitation(db, principal, organization_id, invitation_id)


@invitations_router.post("/accept", response_model=OrganizationRead)
async def accept_invitation(
    principal: WriterUserDep, db: DatabaseDep, body: InvitationToken
) -> OrganizationRead:
    """Join with an invitation made for the caller's email address (once, before it
    expires: 409 otherwise)."""
    return await service.accept_invitation(db, principal, body.token)


@invitations_router.post("/decline", response_model=InvitationRead)
async def decline_invitation(
    principal: CurrentUserDep, db: DatabaseDep, body: InvitationToken
) -> InvitationRead:
    """Decline an invitation made for the caller's email address."""
    return await service.decline_invitation(db, principal, body.token)
