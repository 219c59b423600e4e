"""What the subcommands share: the :class:`Command` each module lists in ``COMMANDS``, the text
progress bar, and the options of one classification run (``classify`` and ``classify-many``)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Callable, NamedTuple

from ..core.progress import WINDOWS, Progress
from ..core.request import DEFAULT_MODE, DEFAULT_STRIDE, FAST_PATH_MODES, MODES, RADIOMETRY_CHOICES


class Command(NamedTuple):
    """One subcommand: ``add_arguments(parser)`` declares its options, ``run(args)`` returns the exit code."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class ProgressBar:
    """``[#####.....]  42%  message`` redrawn in place on a TTY, otherwise a line every 10 % and at each new
    stage (a log then says what a long first stage is doing, e.g. optimising the model for the CPU)."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last_decile = -1
        self.t0 = time.perf_counter()
        self.last_draw = 0.0
        self.last_stage = None
        self.eta_origin = None  # (elapsed, fraction) at the first report of the windows: the pace is theirs

    def __call__(self, progress: Progress) -> None:
        """The engine's progress callback: draws ``progress.fraction`` with ``progress.message``."""
        self.draw(progress.fraction, progress.message, progress.stage)

    def draw(self, fraction: float, message: str, stage=None) -> None:
        """Draw ``fraction`` (0..1) of the bar with ``message`` (``stage``: a new one gets its line)."""
        fraction = min(1.0, max(0.0, float(fraction)))
        filled = int(round(fraction * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = time.perf_counter() - self.t0
        if self.eta_origin is None and stage in (None, WINDOWS):  # a caller without stages: from the start
            self.eta_origin = (0.0, 0.0) if stage is None else (elapsed, fraction)
        eta = ""
        e0, f0 = self.eta_origin or (elapsed, fraction)
        if 0.05 < fraction < 1.0 and elapsed - e0 > 2 and fraction > f0:
            eta = f" (~{(elapsed - e0) * (1 - fraction) / (fraction - f0):.0f}s left)"
        line = f"[{bar}] {fraction * 100:5.1f}%  {elapsed:6.1f}s  {message}{eta}"
        if self.tty:
            now = time.perf_counter()
            if now - self.last_draw < 0.1 and fraction < 1.0:
                return
            self.last_draw = now
            self.stream.write("\r" + line[:120].ljust(100))
            if fraction >= 1.0:
                self.stream.write("\n")
        else:
            decile = int(fraction * 10)
            if decile == self.last_decile and stage == self.last_stage and fraction < 1.0:
                return
            self.last_decile, self.last_stage = decile, stage
            self.stream.write(line + "\n")
        self.stream.flush()


def stride_of(args: argparse.Namespace) -> int:
    """``--stride``, or the default (windows mode's; see :func:`note_unused_stride` for map mode)."""
    return DEFAULT_STRIDE if args.stride is None else args.stride


def note_unused_stride(args: argparse.Namespace) -> None:
    """After a map-mode run given a ``--stride``: one line on stderr says the stride was unused."""
    if args.stride is not None and args.mode == "map":
        print(
            f"note: --stride {args.stride} is unused in map mode (a class for every 10 m pixel); "
            "add --mode windows for windows every --stride px",
            file=sys.stderr,
        )


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The options of one run, shared by ``classify`` and ``classify-many``."""
    p.add_argument("--model", metavar="CARD", help="model card JSON (default: the bundled model of the mode)")
    p.add_argument(
        "--mode",
        choices=MODES,
        default=DEFAULT_MODE,
        help="windows: one class per stride x stride cell; map: a class for every 10 m pixel (per-pixel model "
        f"over overlapping tiles) (default {DEFAULT_MODE})",
    )
    p.add_argument(
        "--stride",
        type=int,
        help=f"window stride in pixels: 8, 16, 32 or 64 (default {DEFAULT_STRIDE}; windows mode only)",
    )
    p.add_argument("--bounds", nargs=4, type=float, metavar=("XMIN", "YMIN", "XMAX", "YMAX"), help="area of interest")
    p.add_argument("--bounds-crs", metavar="CRS", help="CRS of --bounds, e.g. EPSG:4326 (default: the raster's)")
    p.add_argument("--bands", nargs="+", type=int, metavar="N", help="1-based source bands for the model, e.g. 4 3 2")
    p.add_argument(
        "--radiometry",
        default="auto",
        choices=RADIOMETRY_CHOICES,
        help="how values are scaled to 0-255 (default auto: from the product's metadata, then the values; "
        "sentinel2_l2a takes an offset only from evidence, sentinel2_offset1000 forces DN - 1000)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    p.add_argument("--batch-size", type=int, default=64, help="windows per batch (default 64)")
    p.add_argument("--threads", type=int, help="CPU threads for the model, 1 to the CPU count (default: PyTorch's)")
    p.add_argument(
        "--fast-path",
        choices=FAST_PATH_MODES,
        default="auto",
        help="CPU fast path (TorchScript + oneDNN Graph fusion): auto (large runs only), on or off; int8: the "
        "model quantized to 8-bit integers (default auto; auto takes int8 only on VNNI/AMX CPUs where it "
        "measures faster)",
    )
    p.add_argument("--float-probabilities", action="store_true", help="write probabilities as float32")
    p.add_argument("--no-probabilities", action="store_true", help="do not write the probability raster")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing output files of the same name (an input file is never replaced)",
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        metavar="N",
        help="refuse a working raster (at the model's 10 m) above N pixels (default 2e9; 0: no limit)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
