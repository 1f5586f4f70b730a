"""What ``make run`` does before it serves: migrate, seed the demo into an empty
database (or plan its today), and print where everything is."""

from __future__ import annotations

from backend.cli import migrate
from backend.config import Settings, load_settings
from backend.db.session import Database
from demo.seed import database_is_empty, plan_demo_day_if_missing, seed_demo


def seed_if_empty(settings: Settings) -> bool:
    """Seed the demo unless the database already holds anything; True if it seeded."""
    database = Database(settings.database_url)
    try:
        with database.session() as session:
            if not database_is_empty(session):
                return False
            seed_demo(session, settings)
            return True
    finally:
        database.dispose()


def plan_demo_today(settings: Settings) -> bool:
    """Give the demo organization a plan for its today, if it has none yet."""
    database = Database(settings.database_url)
    try:
        with database.session() as session:
            return plan_demo_day_if_missing(session)
    finally:
        database.dispose()


def setup(host: str, port: str) -> None:
    """Migrate, seed or plan today, and print the banner ``make run`` shows."""
    settings = load_settings()
    settings.check_safe_for_production()
    migrate(settings)
    seeded = seed_if_empty(settings)
    planned = not seeded and plan_demo_today(settings)
    base = f"http://{host}:{port}"
    print(f"Doorstep is starting on {base}", flush=True)
    print(f"  console:    {base}/console (dispatch, support, admin)", flush=True)
    print(f"  API docs:   {base}/api/v1/docs", flush=True)
    print(f"  health:     {base}/healthz", flush=True)
    print(f"  database:   {settings.database_url}", flush=True)
    demo = "seeded just now" if seeded else "today planned just now" if planned else "present"
    print(f"  demo data:  {demo}", flush=True)
    password = settings.demo_password
    print(
        "  demo logins (password '" + password + "'): driver1..driver5, dispatch, support, admin",
        flush=True,
    )
    print(
        f"  try: curl -s -X POST {base}/api/v1/auth/token -H 'Content-Type: application/json' "
        f"""-d '{{"username":"driver1","password":"{password}","device_id":"my-laptop"}}'""",
        flush=True,
    )


def seed() -> None:
    """``make seed``: migrate, then seed the demo into an empty database."""
    settings = load_settings()
    migrate(settings)
    if seed_if_empty(settings):
        print("demo data seeded")
    else:
        print("the database already has data; nothing seeded")
