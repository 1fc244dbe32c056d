"""The CLI called in-process, answered like a finished subprocess: most bad-input checks need no
fresh interpreter, and starting one costs seconds a case (the subprocess smoke tests that stay
in test_cli keep what only a real process shows)."""
import contextlib
import io
import os
import subprocess
import traceback

from modeldiff_core.cli import main


def run(*args, env=None) -> subprocess.CompletedProcess:
    """`python -m modeldiff_core ARGS` in this process, with `env` as its environment; an
    exception that escapes main is written to stderr as a traceback, as Python would (exit 1)."""
    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as done:  # argparse's own exits (--help, its errors)
                code = done.code if isinstance(done.code, int) else 1
            except Exception:  # noqa: BLE001 - shown as the user would see it
                err.write(traceback.format_exc())
                code = 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())
