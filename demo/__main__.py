"""``python -m demo``: the demo's commands.

python -m demo setup --host H --port P   make run: migrate, seed or plan today, banner
python -m demo seed                      make seed: seed the demo into an empty database
python -m demo day [--folder ...]        make demo: simulate a whole day into a folder
python -m demo serve [--folder ...]      make demo: serve it, with mailbox, worker, live driver
python -m demo mailbox [--port ...]      a local SMTP server keeping each message
python -m demo live --folder --server    drive the live driver's open stops in real time
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from backend.config import ConfigError

OWN_OPTIONS = {
    "day": "simulate a whole day",
    "serve": "serve a day with a mailbox, the notification worker and a live driver",
    "mailbox": "a local SMTP server keeping each message",
    "live": "drive the live driver's open stops in real time",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description="The demo's commands.")
    commands = parser.add_subparsers(dest="command", required=True)
    setup = commands.add_parser("setup", help="migrate, seed the demo if empty, print logins")
    setup.add_argument("--host", default="127.0.0.1")
    setup.add_argument("--port", default="8000")
    commands.add_parser("seed", help="seed the demo into an empty database")
    # These parse their own options (their module's main): whatever follows is theirs.
    for name, what in OWN_OPTIONS.items():
        commands.add_parser(name, help=f"{what} (`{name} --help`)", add_help=False)
    args, day_args = parser.parse_known_args(argv)
    if day_args and args.command not in OWN_OPTIONS:
        parser.error(f"unrecognized arguments: {' '.join(day_args)}")
    # Imported per command: `make run` installs no driver-app extras, and only the day
    # needs the driver app's core.
    try:
        if args.command == "setup":
            from demo.setup import setup as run_setup

            run_setup(args.host, args.port)
        elif args.command == "seed":
            from demo.setup import seed

            seed()
        elif args.command == "serve":
            from demo.serve import main as run_serve

            return run_serve(day_args)
        elif args.command == "mailbox":
            from demo.mailbox import main as run_mailbox

            return run_mailbox(day_args)
        elif args.command == "live":
            from demo.live import main as run_live

            return run_live(day_args)
        else:
            from demo.day import main as run_day

            return run_day(day_args)
    except ConfigError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
