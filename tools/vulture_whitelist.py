"""Names the dead-code scan (`make lint`, vulture) cannot see being used.

Each is read or called by name by a framework, a .kv file or a closed vocabulary that
arrives as text; decorated views, hooks and fixtures are covered in pyproject.toml.
Never imported: vulture reads it as one more source file.
"""

# ruff: noqa: B018
from typing import Any

_: Any = None

# Flask and flask-smorest: read off the class or session by name.
_.ERROR_SCHEMA, _.ARGUMENTS_PARSER, _.permanent
# Marshmallow form fields declared next to views (their schemas.py files are skipped).
_.confirm, _.open_only
# Response schema fields declared next to their view (backend/index/routes.py).
_.openapi, _.health
# Jinja templates: console/templates/console/*.html.
_.depot_name, _.kind_label, _.status_label, _.next_stop_eta
# http.server: the handler methods it calls by name (a recorded OSRM in tests/eta).
_.do_GET, _.log_message
# SQLAlchemy: a TypeDecorator's hooks; columns written but read only by SQL and people.
_.impl, _.cache_ok, _.process_bind_param, _.process_result_value
_.first_seen_at, _.updated_at, _.delivered_at, _.changed_by
# Organization settings served whole (asdict) and read by the recipient work to come.
_.evidence_retention_days, _.tracking_page_name, _.tracking_logo_url
_.notification_sender_name, _.notification_sender_email, _.notification_sender_phone
# sqlite3 and pyHanko settings, set as attributes.
_.isolation_level, _.row_factory, _.system_time
# gunicorn: worker classes named in config; the socket methods it calls on ours.
_.JsonErrorThreadWorker, _.JsonErrorSyncWorker, _.gettimeout, _.setblocking
# Kivy: properties and methods used from driver_client/ui/kv/*.kv.
_.open_stop, _.add_photo, _.details, _.policy_text, _.where_choices
_.scan_with_camera, _.scan_status, _.can_call, _.photo_button
_.disabled  # a Kivy widget property, read by its own drawing
# Enum members that arrive as text from the phone or a support agent.
_.NOT_RECEIVED, _.DAMAGED, _.WRONG_ITEM, _.WRONG_ADDRESS
_.RECIPIENT_ABSENT, _.ADDRESS_NOT_FOUND, _.ACCESS_DENIED, _.REFUSED, _.UNSAFE_LOCATION
_.BUSINESS_CLOSED, _.AGE_CHECK_FAILED
_.ACCEPT
_.FRONT_DOOR, _.BACK_DOOR, _.RECEPTION, _.NEIGHBOUR, _.PARCEL_LOCKER, _.MAILROOM
# demo/seed.py's SeedSummary names the organization it seeded, for whoever reads it.
_.organization
# Tests: hypothesis's teardown, a file object's protocol, a fixture wanted for its effect,
# and the World fixture's second tenant (built positionally; no test reads it by name yet).
_.teardown, _.readable, _.readinto, _.stop_with_dispute, _.other_org_id
# buildozer reads these of the object whose sources it copies (tests/phone/test_android_spec.py).
_.logger, _.app_dir
# Notifications: the servers' hooks that aiosmtpd and http.server call by name.
_.handle_DATA, _.do_POST, _.log_message
# Recipient messages: dataclass fields the console templates read (and asdict serialises).
_.customized, _.unsubscribed, _.resent_from, _.resendable
# Jinja's sandbox reads the set of operators it hands to call_binop by name.
_.intercepted_binops
