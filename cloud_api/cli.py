"""steward-api: run the central API and manage the edges and users allowed to use it.

    steward-api serve [--host H] [--port P] [--db FILE]
    steward-api edges add NAME --site S (--building B [--building B2 ...] | --any-building)
                                                          prints the edge's token, once
    steward-api edges list [--json]
    steward-api edges revoke NAME
    steward-api edges cursors NAME [--json]               what the API holds per stream
    steward-api edges reset-cursor NAME --lane L [--outbox ID --generation G] --acked N
                                                          set a cursor back (audited)
    steward-api users add NAME --role viewer|operator|energy_manager|admin [--password-stdin]
                                                          prints the user's token, once
    steward-api users password NAME [--password-stdin]   set the password for the cockpit's
                                                          login (asked twice on a terminal)
    steward-api users list [--json]
    steward-api users revoke NAME                         refuses the token, ends sessions
    steward-api report energy|patrol|alarms|hazards ... (--pdf|--csv|--html FILE)
                                                          a monthly report (report_cli.py)

Settings come from STEWARD_API_* environment variables and the settings file
(see cloud_api/settings.py); flags win over both.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import getpass
import logging
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
from pydantic import TypeAdapter, ValidationError

from cloud_api import report_cli
from cloud_api.auth import Role, hash_token, new_token
from cloud_api.passwords import BadPasswordError, check_password_rules, hash_password
from cloud_api.routers.edges import edge_out
from cloud_api.settings import ApiSettings, load_settings
from cloud_api.store import sqlite_sessions, sqlite_users
from cloud_api.store.base import EdgeExistsError, EdgeIdentity
from cloud_api.store.sqlite import SqliteStore
from edge.model import Name

_name = TypeAdapter(Name)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="steward-api", description=__doc__.split("\n")[0])
    parser.add_argument("--env-file", type=Path, help="settings file (KEY=value lines)")
    parser.add_argument("--db", type=Path, help="the SQLite store's file")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--db", type=Path, dest="serve_db", help="the SQLite store's file")
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--no-access-log", action="store_true", help="do not log each request")

    edges = commands.add_parser("edges", help="register, list and revoke edges")
    edge_commands = edges.add_subparsers(dest="edges_command", required=True)
    add = edge_commands.add_parser("add", help="register an edge and print its token once")
    add.add_argument("name")
    add.add_argument("--site", required=True, help="the only site the edge may write")
    where = add.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--building",
        action="append",
        dest="buildings",
        help="a building it may write (repeat for more); it may write no other",
    )
    where.add_argument(
        "--any-building", action="store_true", help="it may write every building of the site"
    )
    listing = edge_commands.add_parser("list", help="registered edges (never their tokens)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    revoke = edge_commands.add_parser("revoke", help="refuse the edge's token from now on")
    revoke.add_argument("name")
    cursors = edge_commands.add_parser(
        "cursors", help="the API's cursor per stream (outbox, generation) and lane of an edge"
    )
    cursors.add_argument("name")
    cursors.add_argument("--json", action="store_true", help="machine-readable output")
    reset = edge_commands.add_parser(
        "reset-cursor",
        help="set a cursor's acknowledged seq (to undo a poisoned lane); logged for audit",
    )
    reset.add_argument("name")
    reset.add_argument("--lane", required=True, choices=("events", "readings"))
    reset.add_argument("--outbox", default="", help="the stream's outbox id (default stream: '')")
    reset.add_argument("--generation", default="", help="the stream's generation")
    reset.add_argument("--acked", type=int, required=True, help="the new acknowledged seq")
    for sub in (add, listing, revoke, cursors, reset):
        sub.add_argument("--db", type=Path, dest="edges_db", help="the SQLite store's file")

    users = commands.add_parser("users", help="add, list and revoke people's tokens")
    user_commands = users.add_subparsers(dest="users_command", required=True)
    user_add = user_commands.add_parser("add", help="add a user and print their token once")
    user_add.add_argument("name")
    user_add.add_argument("--role", required=True, choices=[r.value for r in Role])
    user_password = user_commands.add_parser(
        "password", help="set a user's password (for the cockpit's login); ends their sessions"
    )
    user_password.add_argument("name")
    for sub in (user_add, user_password):
        sub.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of standard input",
        )
    user_list = user_commands.add_parser("list", help="users and roles (never their tokens)")
    user_list.add_argument("--json", action="store_true", help="machine-readable output")
    user_revoke = user_commands.add_parser(
        "revoke", help="refuse the user's token and end their sessions from now on"
    )
    user_revoke.add_argument("name")
    for sub in (user_add, user_password, user_list, user_revoke):
        sub.add_argument("--db", type=Path, dest="users_db", help="the SQLite store's file")
    report_cli.add_parser(commands)
    return parser


def _check_name(what: str, value: str) -> str:
    try:
        return _name.validate_python(value)
    except ValidationError as e:
        problem = e.errors(include_url=False)[0]["msg"]
        raise SystemExit(f"steward-api: {what} {value!r}: {problem}") from None


def _when(ts: float | None) -> str:
    if ts is None:
        return "never"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def tune_gc_for_ingest() -> None:
    """Garbage-collector settings for a process that ingests large batches.

    A validated 5,000-point batch is ~20,000 objects that all live until it is stored;
    with the default threshold (700 allocations) the collector runs dozens of times per
    batch, walking them each time, which measured at a third of the ingest time. These
    objects hold no reference cycles, so reference counting frees them anyway: collect
    less often, and never walk what was alive at startup (modules, schemas, the app).
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _serve(settings: ApiSettings, args: argparse.Namespace) -> int:
    import uvicorn

    from cloud_api.app import create_app
    from device_profiles.sourced_yaml import ConfigError

    try:
        app = create_app(settings)
    except ConfigError as exc:  # the energy configuration: file, line and field
        print(f"steward-api: bad energy configuration:\n{exc}", file=sys.stderr)
        return 2
    tune_gc_for_ingest()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        access_log=not args.no_access_log,
    )
    return 0


def _edges(settings: ApiSettings, args: argparse.Namespace) -> int:
    store = SqliteStore(settings.db, settings.sqlite_synchronous)
    try:
        if args.edges_command == "add":
            name = _check_name("edge name", args.name)
            site = _check_name("site", args.site)
            buildings = [_check_name("building", b) for b in args.buildings or ()]
            buildings = list(dict.fromkeys(buildings))  # a repeated one once
            identity = (
                EdgeIdentity(name, site, buildings[0], tuple(buildings[1:]))
                if buildings
                else EdgeIdentity(name, site)
            )
            token = new_token()
            try:
                store.add_edge(identity, hash_token(token))
            except EdgeExistsError as e:
                print(f"steward-api: {e}", file=sys.stderr)
                return 1
            print(token)  # stdout holds only the token, for TOKEN=$(steward-api edges add ...)
            where = f"site {site}, " + (
                f"building{'s' if len(buildings) > 1 else ''} {', '.join(buildings)}"
                if buildings
                else "any building"
            )
            print(
                f"edge {name} may now write {where}. Its token is printed above and never"
                " again (the API keeps only a hash): put it in the edge's configuration.",
                file=sys.stderr,
            )
            return 0
        if args.edges_command == "revoke":
            if not store.revoke_edge(args.name):
                print(f"steward-api: no edge named {args.name!r}", file=sys.stderr)
                return 1
            print(f"edge {args.name} revoked: its token is refused from now on", file=sys.stderr)
            return 0
        if args.edges_command == "cursors":
            return _cursors(store, args)
        if args.edges_command == "reset-cursor":
            return _reset_cursor(store, args)
        edges = store.list_edges()
        if args.json:
            print(orjson.dumps([edge_out(e) for e in edges], option=orjson.OPT_INDENT_2).decode())
            return 0
        print(f"{'NAME':20} {'SITE':14} {'BUILDING':12} {'STATUS':8} {'LAST SEEN':21} BACKLOG")
        for e in edges:
            backlog = ", ".join(
                f"{lane} {report.get('records', 0)}" for lane, report in sorted(e.backlog.items())
            )
            status = "revoked" if e.revoked else "active"
            buildings = ",".join(e.buildings) if e.buildings is not None else "*"
            print(
                f"{e.name:20} {e.site:14} {buildings:12} {status:8}"
                f" {_when(e.last_seen):21} {backlog or '-'}"
            )
        return 0
    finally:
        store.close()


def _cursors(store: SqliteStore, args: argparse.Namespace) -> int:
    found = store.cursors(args.name)
    if args.json:
        print(
            orjson.dumps(
                [dataclasses.asdict(c) for c in found], option=orjson.OPT_INDENT_2
            ).decode()
        )
        return 0
    print(f"{'LANE':9} {'OUTBOX':33} {'GENERATION':17} {'FIRST':>7} {'ACKED':>20} "
          f"{'DROPPED':>8} {'DUPS':>8} UPDATED")  # fmt: skip
    for c in found:
        print(
            f"{c.lane:9} {c.outbox or '(default)':33} {c.generation or '-':17} {c.first_seq:7}"
            f" {c.acked:20} {c.dropped_at_edge:8} {c.duplicates:8} {_when(c.updated_at or None)}"
        )
    return 0


def _read_password(from_stdin: bool, name: str) -> str:
    """The new password, checked against the rules: the first line of stdin, or asked
    twice on the terminal. SystemExit with the reason when there is none or it is bad."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r")
        if not password:
            raise SystemExit("steward-api: --password-stdin: standard input held no password")
    else:
        if not sys.stdin.isatty():
            raise SystemExit(
                "steward-api: standard input is not a terminal: give the password with"
                " --password-stdin (its first line)"
            )
        password = getpass.getpass(f"new password for {name}: ")
        if getpass.getpass("the same again: ") != password:
            raise SystemExit("steward-api: the two passwords differ; nothing changed")
    try:
        check_password_rules(password)
    except BadPasswordError as e:
        raise SystemExit(f"steward-api: {e}; nothing changed") from None
    return password


def _users(settings: ApiSettings, args: argparse.Namespace) -> int:
    store = SqliteStore(settings.db, settings.sqlite_synchronous)
    try:
        if args.users_command == "add":
            name = _check_name("user name", args.name)
            password = _read_password(True, name) if args.password_stdin else None
            token = new_token()
            password_hash = None if password is None else hash_password(password)
            try:
                with store.writing() as db:
                    sqlite_users.add_user(
                        db, name, args.role, hash_token(token), time.time(), password_hash
                    )
            except sqlite_users.UserExistsError as e:
                print(f"steward-api: {e}", file=sys.stderr)
                return 1
            print(token)  # stdout holds only the token, for TOKEN=$(steward-api users add ...)
            login = (
                "They may also log in to the cockpit with the password given."
                if password is not None
                else f"For the cockpit's login, set a password: steward-api users password {name}"
            )
            print(
                f"user {name} ({args.role}) added. The token is printed above and never again"
                f" (the API keeps only a hash): hand it to them. {login}",
                file=sys.stderr,
            )
            return 0
        if args.users_command == "password":
            return _set_password(store, args)
        if args.users_command == "revoke":
            with store.writing() as db:
                found = sqlite_users.revoke_user(db, args.name)
                ended = sqlite_sessions.end_user_sessions(db, args.name)
            if not found:
                print(f"steward-api: no user named {args.name!r}", file=sys.stderr)
                return 1
            print(
                f"user {args.name} revoked: their token is refused from now on"
                f" ({ended} session{'' if ended == 1 else 's'} ended)",
                file=sys.stderr,
            )
            return 0
        with store.reading() as db:
            users = sqlite_users.list_users(db)
        if args.json:
            print(orjson.dumps([dataclasses.asdict(u) for u in users]).decode())
            return 0
        print(f"{'NAME':20} {'ROLE':15} {'STATUS':8} {'PASSWORD':8} CREATED")
        for u in users:
            status = "revoked" if u.revoked else "active"
            password = "set" if u.has_password else "-"
            print(f"{u.name:20} {u.role:15} {status:8} {password:8} {_when(u.created_at)}")
        return 0
    finally:
        store.close()


def _set_password(store: SqliteStore, args: argparse.Namespace) -> int:
    with store.reading() as db:
        user = sqlite_users.user_by_name(db, args.name)
    if user is None:
        print(f"steward-api: no user named {args.name!r}", file=sys.stderr)
        return 1
    if user.revoked:
        print(f"steward-api: user {args.name!r} is revoked: nothing changed", file=sys.stderr)
        return 1
    password_hash = hash_password(_read_password(args.password_stdin, args.name))
    with store.writing() as db:
        sqlite_users.set_password(db, args.name, password_hash)
        # a new password shuts out whoever knew the old one, including their open sessions
        ended = sqlite_sessions.end_user_sessions(db, args.name)
    print(
        f"password of {args.name} set; they log in to the cockpit with it"
        f" ({ended} open session{'' if ended == 1 else 's'} ended)",
        file=sys.stderr,
    )
    return 0


@contextlib.contextmanager
def _audit_log() -> Iterator[logging.Logger]:
    """The audit logger, writing timestamped lines to stderr for this command."""
    audit = logging.getLogger("steward.api.audit")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    audit.addHandler(handler)
    audit.setLevel(logging.INFO)
    try:
        yield audit
    finally:
        audit.removeHandler(handler)


def _reset_cursor(store: SqliteStore, args: argparse.Namespace) -> int:
    try:
        before = store.reset_cursor(args.name, args.lane, args.outbox, args.generation, args.acked)
    except (KeyError, ValueError) as e:
        message = e.args[0] if e.args else str(e)
        print(f"steward-api: {message}; see steward-api edges cursors {args.name}", file=sys.stderr)
        return 1
    with _audit_log() as audit:
        audit.warning(
            "cursor reset by %s: edge %s lane %s outbox %s generation %s: acked %d -> %d",
            getpass.getuser(),
            args.name,
            args.lane,
            args.outbox or "(default)",
            args.generation or "-",
            before,
            args.acked,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    db = (
        getattr(args, "serve_db", None)
        or getattr(args, "edges_db", None)
        or getattr(args, "users_db", None)
        or getattr(args, "report_db", None)
        or args.db
    )
    overrides: dict[str, object] = {"db": db}
    if args.command == "serve":
        overrides.update(host=args.host, port=args.port)
    try:
        settings = load_settings(args.env_file, **overrides)
    except (ValidationError, FileNotFoundError) as e:
        print(f"steward-api: bad settings: {e}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(settings, args)
    if args.command == "users":
        return _users(settings, args)
    if args.command == "report":
        return report_cli.run(settings, args)
    return _edges(settings, args)


if __name__ == "__main__":
    sys.exit(main())
