"""Command line of the admin panel's accounts: ``python -m admin users add|reset|role|remove|list``.

Accounts are created here, on the server, never in the browser: the first admin cannot sign in
to create themselves. The password is typed without echo, or read from the environment variable
named by ``--password-env``. Every change is written to the audit log as done by ``cli:<user>``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence

from admin import auth
from core.settings import Settings, load_settings
from core.storage import database
from core.storage.admin_tables import ROLES


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.handler(args, load_settings())
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m admin", description="Accounts that can sign in to the admin panel."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    users = commands.add_parser(
        "users",
        help="admin panel accounts",
        description="Create, reset, change, remove and list the accounts that can sign in to the "
        "admin panel.",
    )
    user_commands = users.add_subparsers(required=True, metavar="ACTION")
    add = user_commands.add_parser("add", help="create an account")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    reset = user_commands.add_parser(
        "reset", help="new password (and role); unlocks and signs out everywhere"
    )
    reset.add_argument("name")
    reset.add_argument("--role", choices=ROLES)
    for command, handler in ((add, _users_add), (reset, _users_reset)):
        command.add_argument(
            "--password-env",
            metavar="VARIABLE",
            help="read the password from this environment variable (default: prompt, no echo)",
        )
        command.set_defaults(handler=handler)
    role = user_commands.add_parser("role", help="change a role; signs out everywhere")
    role.add_argument("name")
    role.add_argument("--role", required=True, choices=ROLES)
    role.set_defaults(handler=_users_role)
    remove = user_commands.add_parser("remove", help="delete an account; signs out everywhere")
    remove.add_argument("name")
    remove.set_defaults(handler=_users_remove)
    user_listing = user_commands.add_parser("list", help="list accounts")
    user_listing.add_argument("--json", action="store_true")
    user_listing.set_defaults(handler=_users_list)
    return parser


def _operator() -> str:
    """Who ran the command, for the audit log."""
    return f"cli:{getpass.getuser()}"


def _users_add(args: argparse.Namespace, settings: Settings) -> int:
    password = auth.read_new_password(args.password_env, dict(os.environ))
    with database.open_database(settings.database_url)() as session:
        auth.add_user(session, args.name, args.role, password, by=_operator())
    print(f"added {args.role} {args.name}")
    return 0


def _users_reset(args: argparse.Namespace, settings: Settings) -> int:
    password = auth.read_new_password(args.password_env, dict(os.environ))
    with database.open_database(settings.database_url)() as session:
        user = auth.reset_user(session, args.name, password, by=_operator(), role=args.role)
        print(f"reset {user.role} {user.name}: unlocked, signed out everywhere")
    return 0


def _users_role(args: argparse.Namespace, settings: Settings) -> int:
    with database.open_database(settings.database_url)() as session:
        auth.set_role(session, args.name, args.role, by=_operator())
    print(f"{args.name} is now {args.role}: signed out everywhere")
    return 0


def _users_remove(args: argparse.Namespace, settings: Settings) -> int:
    with database.open_database(settings.database_url)() as session:
        auth.remove_user(session, args.name, by=_operator())
    print(f"removed {args.name}: signed out everywhere")
    return 0


def _users_list(args: argparse.Namespace, settings: Settings) -> int:
    with database.open_database(settings.database_url)() as session:
        rows = [
            {
                "name": user.name,
                "role": user.role,
                "created_at": user.created_at.isoformat(),
                "locked_until": user.locked_until.isoformat() if user.locked_until else None,
            }
            for user in auth.list_users(session)
        ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        locked = f"  locked until {row['locked_until']}" if row["locked_until"] else ""
        print(f"{row['name']:<20} {row['role']:<10} since {row['created_at']}{locked}")
    return 0
