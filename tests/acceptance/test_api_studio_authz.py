"""Who may call each studio route: anonymous (401), a member of another organization (404:
the organization and all under it do not exist for them), a member, an admin and the owner
(403 below the route's role, its success status at or above it) — one row per route, on
both backends. Each row gets a fresh organization; a write that one caller's success would
use up (a note resolved, an entry deleted, an invitation revoked) names a thing of its own
per caller."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db.session import Database
from stratabase.enums import OrgRole
from stratabase.models import Episode, OrganizationMember
from stratabase.settings import Settings
from tests.acceptance.api_support import Actor, Api, make_api
from tests.acceptance.test_api_studio import organization, project

CALLERS = ("anonymous", "other", "member", "admin", "owner")
RANK = {"member": 0, "admin": 1, "owner": 2}
PER_CALLER = ("member", "admin", "owner")


@dataclass
class World:
    """An organization with a member, an admin and the owner, and things to act on."""

    org: int
    project: int
    episode: int
    actors: dict[str, Actor | None]
    targets: dict[str, int]
    notes: dict[str, int] = field(default_factory=dict)
    invitations: dict[str, int] = field(default_factory=dict)

    def mine(self, name: str, who: str) -> str:
        """The key of the caller's own thing (refused callers name the member's)."""
        return f"{name}_{who if who in PER_CALLER else 'member'}"

    def note(self, who: str) -> int:
        """The caller's own note."""
        return self.notes[who if who in PER_CALLER else "member"]

    def invitation(self, who: str) -> int:
        """The caller's own invitation."""
        return self.invitations[who if who in PER_CALLER else "member"]


async def build(api: Api, db: Database) -> World:
    owner, member, admin, other = [await api.user() for _ in range(4)]
    org = (await organization(api, owner))["id"]
    await organization(api, other, "Elsewhere")
    targets = {}
    for name in ("role_target", "removed_member", "removed_admin", "removed_owner"):
        targets[name] = (await api.user()).id

    async def members(session: AsyncSession) -> None:
        # Straight into the table: the invitation flow has tests of its own.
        roles = {member.id: OrgRole.MEMBER, admin.id: OrgRole.ADMIN}
        roles.update({user_id: OrgRole.MEMBER for user_id in targets.values()})
        session.add_all(
            OrganizationMember(organization_id=org, user_id=user_id, role=role)
            for user_id, role in roles.items()
        )

    await db.transaction(members)
    made = (await project(api, owner, org))["id"]

    async def episode(session: AsyncSession) -> int:
        from datetime import UTC, datetime

        row = Episode(project_id=made, scheduled_for=datetime(2026, 3, 8, 7, 30, tzinfo=UTC))
        session.add(row)
        await session.flush()
        return row.id

    world = World(
        org=org,
        project=made,
        episode=await db.transaction(episode),
        actors={
            "anonymous": None,
            "other": other,
            "member": member,
            "admin": admin,
            "owner": owner,
        },
        targets=targets,
    )
    base = f"/v1/projects/{made}"
    for who in PER_CALLER:
        note = await api.http.post(
            f"{base}/notes", json={"body": f"note of {who}"}, headers=owner.headers
        )
        world.notes[who] = note.json()["id"]
        memory = await api.http.put(
            f"{base}/memory/style/{who}", json={"content": {"v": 1}}, headers=owner.headers
        )
        assert memory.status_code == 201
        invited = await api.http.post(
            f"/v1/organizations/{org}/invitations",
            json={"email": f"{who}-guest@example.org"},
            headers=owner.headers,
        )
        world.invitations[who] = invited.json()["invitation"]["id"]
    return world


Path = Callable[[World, str], str]
Body = Callable[[World, str], Any]


@dataclass(frozen=True)
class Route:
    method: str
    path: Path
    role: str
    ok: int
    body: Body | None = None
    owner_status: int | None = None


def _org(suffix: str = "") -> Path:
    return lambda w, who: f"/v1/organizations/{w.org}{suffix}"


def _project(suffix: str = "") -> Path:
    return lambda w, who: f"/v1/projects/{w.project}{suffix}"


ROUTES: dict[str, Route] = {
    "org.get": Route("GET", _org(), "member", 200),
    "org.members": Route("GET", _org("/members"), "member", 200),
    "org.role": Route(
        "PATCH",
        lambda w, who: f"/v1/organizations/{w.org}/members/{w.targets['role_target']}",
        "admin",
        200,
        lambda w, who: {"role": "member"},
    ),
    "org.remove": Route(
        "DELETE",
        lambda w, who: f"/v1/organizations/{w.org}/members/{w.targets[w.mine('removed', who)]}",
        "admin",
        204,
    ),
    # The owner is the last owner: 409 (transfer first), after the others left.
    "org.leave": Route("POST", _org("/leave"), "member", 204, owner_status=409),
    "org.transfer": Route(
        "POST",
        _org("/transfer"),
        "owner",
        200,
        lambda w, who: {"user_id": w.targets["role_target"]},
    ),
    "org.invite": Route(
        "POST",
        _org("/invitations"),
        "admin",
        201,
        lambda w, who: {"email": f"new-{who}@example.org"},
    ),
    "org.invitations": Route("GET", _org("/invitations"), "admin", 200),
    "org.revoke": Route(
        "DELETE",
        lambda w, who: f"/v1/organizations/{w.org}/invitations/{w.invitation(who)}",
        "admin",
        200,
    ),
    "project.create": Route(
        "POST",
        lambda w, who: "/v1/projects",
        "admin",
        201,
        lambda w, who: {"organization_id": w.org, "name": f"by {who}"},
    ),
    "project.list": Route(
        "GET", lambda w, who: f"/v1/projects?organization_id={w.org}", "member", 200
    ),
    "project.get": Route("GET", _project(), "member", 200),
    "project.update": Route("PATCH", _project(), "admin", 200, lambda w, who: {"name": who}),
    "project.pause": Route("POST", _project("/pause"), "admin", 200),
    "project.resume": Route("POST", _project("/resume"), "admin", 200),
    "project.archive": Route("POST", _project("/archive"), "admin", 200),
    "project.schedule": Route("GET", _project("/schedule?n=2"), "member", 200),
    "episodes.list": Route("GET", _project("/episodes"), "member", 200),
    "episodes.generate": Route(
        "POST",
        _project("/episodes:generate"),
        "admin",
        202,
        lambda w, who: {"scheduled_for": "2026-03-09T06:30:00Z"},
    ),
    "episodes.get": Route(
        "GET", lambda w, who: f"/v1/projects/{w.project}/episodes/{w.episode}", "member", 200
    ),
    "episodes.regenerate": Route(
        "POST",
        lambda w, who: f"/v1/projects/{w.project}/episodes/{w.episode}/regenerate",
        "admin",
        202,
    ),
    "notes.create": Route(
        "POST", _project("/notes"), "member", 201, lambda w, who: {"body": "more maps"}
    ),
    "notes.list": Route("GET", _project("/notes?status=open"), "member", 200),
    "notes.resolve": Route(
        "POST",
        lambda w, who: f"/v1/projects/{w.project}/notes/{w.note(who)}/resolve",
        "member",
        200,
        lambda w, who: {"resolution": "applied"},
    ),
    "notes.attach": Route(
        "POST",
        lambda w, who: f"/v1/projects/{w.project}/notes/{w.note(who)}/attach",
        "member",
        200,
        lambda w, who: {"episode_id": w.episode},
    ),
    "memory.list": Route("GET", _project("/memory?kind=style"), "member", 200),
    "memory.get": Route("GET", _project("/memory/style/owner"), "member", 200),
    "memory.put": Route(
        "PUT",
        lambda w, who: f"/v1/projects/{w.project}/memory/facts/{who}",
        "member",
        201,
        lambda w, who: {"content": {"by": who}},
    ),
    "memory.delete": Route(
        "DELETE", lambda w, who: f"/v1/projects/{w.project}/memory/style/{who}", "member", 204
    ),
}


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for api in make_api(settings, db):
        yield api


def expected(route: Route, who: str) -> int:
    if who == "anonymous":
        return 401
    if who == "other":
        return 404
    if who == "owner" and route.owner_status is not None:
        return route.owner_status
    return route.ok if RANK[who] >= RANK[route.role] else 403


@pytest.mark.parametrize("name", sorted(ROUTES))
async def test_authorization_matrix(api: Api, db: Database, name: str) -> None:
    route = ROUTES[name]
    world = await build(api, db)
    got = {}
    for who in CALLERS:
        actor = world.actors[who]
        kwargs: dict[str, Any] = {"headers": actor.headers if actor else {}}
        if route.body is not None:
            kwargs["json"] = route.body(world, who)
        response = await api.http.request(route.method, route.path(world, who), **kwargs)
        got[who] = response.status_code
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith("application/problem+json")
    assert got == {who: expected(route, who) for who in CALLERS}


async def test_invitation_routes_need_a_signed_in_caller(api: Api) -> None:
    for path in ("/v1/invitations/accept", "/v1/invitations/decline"):
        response = await api.http.post(path, json={"token": "x" * 43})
        assert response.status_code == 401
    assert (await api.http.post("/v1/organizations", json={"name": "x"})).status_code == 401
    assert (await api.http.get("/v1/organizations")).status_code == 401
