"""``python -m eurosat_landcover train|evaluate|compare ...``: the model commands of models/.

The same commands are available directly as ``python -m eurosat_landcover.models.<train|evaluate|compare>``.
"""

from __future__ import annotations

import shlex
import sys

from ..models import compare, evaluate, train
from .common import Command


def _command() -> str:
    return "python -m eurosat_landcover " + shlex.join(sys.argv[1:])


def _run_train(args) -> int:
    train.train(args, None, command=_command())
    return 0


def _run_evaluate(args) -> int:
    evaluate.run(args, _command())
    return 0


def _run_compare(args) -> int:
    compare.run(args, _command())
    return 0


COMMANDS = (
    Command("train", train.DESCRIPTION, train.add_arguments, _run_train),
    Command("evaluate", evaluate.DESCRIPTION, evaluate.add_arguments, _run_evaluate),
    Command("compare", compare.DESCRIPTION, compare.add_arguments, _run_compare),
)
