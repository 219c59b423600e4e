"""Hook for the package CLI (``python -m eurosat_landcover train|evaluate|compare ...``).

``core/cli.py`` calls :func:`register_subcommands` when it finds this module.  The same
commands are available directly as ``python -m eurosat_landcover.models.<train|evaluate|compare>``.
"""

from __future__ import annotations

import shlex
import sys


def _command() -> str:
    return "python -m eurosat_landcover " + shlex.join(sys.argv[1:])


def _run_train(args) -> int:
    from .train import train

    train(args, None, command=_command())
    return 0


def _run_evaluate(args) -> int:
    from .evaluate import run

    run(args, _command())
    return 0


def _run_compare(args) -> int:
    from .compare import run

    run(args, _command())
    return 0


def register_subcommands(register) -> None:
    """``register(name, help, add_arguments, run)`` for train, evaluate and compare."""
    from . import compare, evaluate, train

    register("train", train.DESCRIPTION, train.add_arguments, _run_train)
    register("evaluate", evaluate.DESCRIPTION, evaluate.add_arguments, _run_evaluate)
    register("compare", compare.DESCRIPTION, compare.add_arguments, _run_compare)
