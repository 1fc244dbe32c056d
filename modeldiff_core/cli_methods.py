"""The analyses' subcommands of the CLI, one per entry of `methods.registry`: each method's
`cli` declares its flags and reads them into its Params, its `run` computes, its `show` prints
and writes --out. Nothing here knows a particular method."""
from __future__ import annotations

import argparse

from .cli_args import command_context, stored_db, write_out
from .config import default_db_path
from .methods.registry import BY_NAME, METHODS


def add_method_parsers(sub) -> None:
    for m in METHODS:
        m.face.cli.add_arguments(sub.add_parser(m.name, help=m.face.cli.HELP))


def is_method(command: str) -> bool:
    return command in BY_NAME


def method_command(args: argparse.Namespace) -> int:
    """Arguments read (a bad one is one line before anything is opened), the database opened
    (a stored run's must exist), the method run, its summary printed and --out written."""
    from .store import Store

    m = BY_NAME[args.command]
    params = m.face.cli.params_from_args(args)
    if not m.stores:  # no database file is made for work that keeps nothing
        result, db = m.run(None, params, command_context(args)), None
    else:
        db = stored_db(args) if getattr(args, "run", None) else args.db or default_db_path()
        with Store(db) as store:
            result = m.run(store, params, command_context(args))
    print(m.face.show.summary(result))  # first: a failed --out still leaves the summary
    if args.out:
        write_out(args.out, m.face.show.to_json(result), db)
    return 0
