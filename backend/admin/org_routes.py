"""The admin API for the organization: settings, depots and devices (admins only)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from backend.admin import depots, devices, totp
from backend.admin import org_schemas as schemas
from backend.admin import settings as org
from backend.auth.guard import current_principal, require_admin
from backend.db.session import db_session
from backend.domain.clock import utc_text
from backend.domain.org_settings import OrgSettings
from backend.http import ApiBlueprint
from backend.schemas import ErrorSchema

blp = ApiBlueprint(
    "admin_org",
    __name__,
    url_prefix="/api/v1/admin",
    description="Administration: organization settings, depots, devices, two-factor resets",
)

INVALID = "validation_error: a field is invalid (``errors`` names each); nothing changed"


def _actor() -> dict[str, Any]:
    principal = current_principal()
    return {"actor": principal.username, "actor_user_id": principal.user_id}


def _settings_body(current: OrgSettings) -> dict[str, Any]:
    return {
        **current.to_dict(),
        "links": {
            "webhooks": "/api/v1/webhooks",
            "versions": "/api/v1/admin/settings/versions",
        },
    }


@blp.route("/settings")
class Settings(MethodView):
    @require_admin()
    @blp.response(200, schemas.SettingsSchema, description="The current settings")
    def get(self) -> dict[str, Any]:
        """The organization's settings."""
        return _settings_body(org.org_settings(db_session(), current_principal().org_id))

    @require_admin()
    @blp.arguments(schemas.SettingsChangeSchema, required=False)
    @blp.response(200, schemas.SettingsSchema, description="The new settings (next version)")
    @blp.alt_response(422, schema=ErrorSchema, description=INVALID)
    def put(self, body: dict[str, Any]) -> dict[str, Any]:
        """Change any of the settings; the change is a new version, effective at once."""
        changed = org.change_settings(
            db_session(), current_principal().org_id, changes=body, **_actor()
        )
        return _settings_body(changed)


@blp.route("/settings/versions")
class SettingsVersions(MethodView):
    @require_admin()
    @blp.response(200, schemas.SettingsVersionsSchema, description="Newest first")
    def get(self) -> dict[str, Any]:
        """Every version of the settings: who changed them, when, and the whole settings."""
        return {
            "items": [
                {
                    "version": v.version,
                    "changed_at": utc_text(v.created_at),
                    "changed_by": v.actor,
                    "settings": v.settings,
                }
                for v in org.settings_versions(db_session())
            ]
        }


@blp.route("/depots")
class Depots(MethodView):
    @require_admin()
    @blp.response(200, schemas.DepotsSchema, description="In service first, then retired")
    def get(self) -> dict[str, Any]:
        """The organization's depots, retired ones included."""
        return {"items": [depots.depot_dict(d) for d in depots.list_depots(db_session())]}

    @require_admin()
    @blp.arguments(schemas.DepotInSchema)
    @blp.response(201, schemas.DepotSchema, description="The new depot")
    @blp.alt_response(422, schema=ErrorSchema, description=INVALID)
    @blp.alt_response(409, schema=ErrorSchema, description="depot_name_taken")
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Create a depot (name, lat and lon required)."""
        principal = current_principal()
        depot = depots.create_depot(db_session(), principal.org_id, values=body, **_actor())
        return depots.depot_dict(depot), 201


@blp.route("/depots/<int:depot_id>")
class DepotView(MethodView):
    @require_admin()
    @blp.response(200, schemas.DepotSchema)
    def get(self, depot_id: int) -> dict[str, Any]:
        """One depot."""
        return depots.depot_dict(depots.get_depot(db_session(), depot_id))

    @require_admin()
    @blp.arguments(schemas.DepotInSchema, required=False)
    @blp.response(200, schemas.DepotSchema, description="The changed depot")
    @blp.alt_response(422, schema=ErrorSchema, description=INVALID)
    @blp.alt_response(409, schema=ErrorSchema, description="depot_name_taken")
    def patch(self, body: dict[str, Any], depot_id: int) -> dict[str, Any]:
        """Change any of a depot's fields."""
        depot = depots.change_depot(db_session(), depot_id, values=body, **_actor())
        return depots.depot_dict(depot)


@blp.route("/depots/<int:depot_id>/retire")
class RetireDepot(MethodView):
    @require_admin()
    @blp.response(200, schemas.DepotSchema, description="The retired depot")
    def post(self, depot_id: int) -> dict[str, Any]:
        """Retire a depot: kept for history, offered to no new stop (idempotent)."""
        return depots.depot_dict(depots.retire_depot(db_session(), depot_id, **_actor()))


@blp.route("/devices")
class Devices(MethodView):
    @require_admin()
    @blp.response(200, schemas.DevicesSchema, description="Most recently seen first")
    def get(self) -> dict[str, Any]:
        """Every driver's devices: when seen, app version, last sync, what each still owes."""
        return {"items": [devices.device_dict(s) for s in devices.list_devices(db_session())]}


@blp.route("/devices/<int:device_id>/revoke")
class RevokeDevice(MethodView):
    @require_admin()
    @blp.response(200, schemas.DeviceSchema, description="The revoked device")
    def post(self, device_id: int) -> dict[str, Any]:
        """Revoke a lost or stolen device: its tokens stop working at once, and it must
        log in again with a password. What it captured before still counts."""
        return devices.device_dict(devices.revoke_device(db_session(), device_id, **_actor()))


@blp.route("/users/<int:user_id>/two-factor")
class UserTwoFactor(MethodView):
    @require_admin()
    @blp.response(204)
    def delete(self, user_id: int) -> None:
        """Reset a user's two-factor sign-in (a lost phone): they enrol again at login."""
        totp.reset(db_session(), user_id, **_actor())
