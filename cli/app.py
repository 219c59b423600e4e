"""Command line: ``python -m eurosat_landcover COMMAND ...``.

Progress goes to stderr as a plain text bar, the JSON summary to stdout. Errors print one
readable line on stderr and exit with code 2 (a traceback only with ``--debug``); Ctrl+C exits
with 130 after removing partial outputs.

Every subcommand module is named in :data:`COMMAND_MODULES` and lists its :class:`~.common.Command`
objects in ``COMMANDS``: adding a subcommand is one module and one line here. The modules are
imported when the parser is built; one that cannot be imported, or lists no ``COMMANDS``, stops
the CLI with its error (a broken subcommand never silently disappears).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterable
from typing import Optional

from .common import Command

# the subcommand modules of this package, in the order ``--help`` lists them
COMMAND_MODULES = (".classify", ".many", ".export", ".predict", ".models", ".finetune")


def load_commands(modules: Optional[Iterable[str]] = None) -> dict[str, Command]:
    """``{name: Command}`` from the ``COMMANDS`` of ``modules`` (default :data:`COMMAND_MODULES`; a
    leading dot: a module of this package). An import error, a module without ``COMMANDS`` or a
    name given twice is raised as is."""
    commands: dict[str, Command] = {}
    for name in COMMAND_MODULES if modules is None else modules:
        module = importlib.import_module(name, __package__)
        listed = getattr(module, "COMMANDS", None)
        if not listed:
            raise RuntimeError(f"CLI module {module.__name__} lists no COMMANDS")
        for command in listed:
            if command.name in commands:
                raise RuntimeError(f"CLI subcommand {command.name!r} is defined twice ({module.__name__})")
            commands[command.name] = command
    return commands


def build_parser(commands: Optional[dict[str, Command]] = None) -> argparse.ArgumentParser:
    """The argparse parser of every subcommand (``commands``: default :func:`load_commands`)."""
    commands = load_commands() if commands is None else commands
    parser = argparse.ArgumentParser(
        prog="python -m eurosat_landcover", description="EuroSAT land-cover classification"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in commands.values():
        sp = sub.add_parser(command.name, help=command.help, description=command.help)
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        command.add_arguments(sp)
    return parser


def _eol() -> str:
    """A newline to end an in-place progress bar on a terminal; nothing otherwise."""
    return "\n" if hasattr(sys.stderr, "isatty") and sys.stderr.isatty() else ""


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _StopSignals:
    """SIGTERM (job schedulers, ``timeout``, ``kill``) and SIGHUP (a closing terminal) stop a run
    like Ctrl+C, and the exit code is 128 + the signal number (143, 129). With ``cancel=True``
    (classify) the signal only sets :meth:`requested`, which the engine polls as its cancel
    callback between batches and stages: it stops there and removes its partial files. (An
    exception raised by the handler inside native code can come out as another error: torch
    turned one into a TypeError while reading weights.) Otherwise :class:`Terminated` is raised
    in the main thread. A second signal gets the default action (the next run sweeps what is
    left). Main thread only."""

    def __init__(self, cancel: bool = False):
        self.cancel = cancel
        self.signum: Optional[int] = None

    def requested(self) -> bool:
        return self.signum is not None

    def __enter__(self):
        import signal
        import threading

        self.saved = {}
        if threading.current_thread() is not threading.main_thread():
            return self
        for name in ("SIGTERM", "SIGHUP"):
            signum = getattr(signal, name, None)
            if signum is not None:
                self.saved[signum] = signal.signal(signum, self._handler)
        return self

    def _handler(self, signum, frame):
        import signal

        from ..core.errors import Terminated

        signal.signal(signum, signal.SIG_DFL)
        self.signum = signum
        if not self.cancel:
            raise Terminated(signum, signal.Signals(signum).name)

    def __exit__(self, *exc):
        import signal

        for signum, old in self.saved.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)
        return False


def _what_is_left(args) -> str:
    """After an interrupt: the outputs are complete and kept (it came after they were renamed), or removed."""
    kept = getattr(args, "outputs_kept", False)
    return "the outputs were complete and are kept" if kept else "partial outputs removed"


def main(argv: Optional[list[str]] = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    commands = load_commands()
    args = build_parser(commands).parse_args(argv)
    run = commands[args.command].run
    from ..core.errors import ClassificationCancelled, Terminated
    from ..core.gdalutil import QuietErrors
    from ..errors import ReadableError

    debug = getattr(args, "debug", False)
    stop = _StopSignals(cancel=args.command in ("classify", "finetune"))
    args.stop_requested = stop.requested  # the engine's cancel callback (see _run_classify)
    try:
        with stop, QuietErrors() if not debug else _Nothing():
            return int(run(args) or 0)
    except BrokenPipeError:  # stdout closed early (e.g. piped into head): not an error of ours
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Terminated as exc:
        print(f"\nterminated by {exc.name}: {_what_is_left(args)}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print(f"\ninterrupted: {_what_is_left(args)}", file=sys.stderr)
        return 130
    except ClassificationCancelled as exc:
        if stop.signum is not None:
            import signal

            print(f"\nterminated by {signal.Signals(stop.signum).name}: partial outputs removed", file=sys.stderr)
            return 128 + stop.signum
        print(f"cancelled: {exc}", file=sys.stderr)
        return 130
    except ReadableError as exc:  # every user-facing error: its one line as it is
        if getattr(args, "debug", False):
            raise
        print(f"{_eol()}error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # unexpected: still one line unless --debug
        if getattr(args, "debug", False):
            raise
        print(f"{_eol()}error: {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        return 2
