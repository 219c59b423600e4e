"""Command line: ``python -m eurosat_landcover classify INPUT OUTDIR [options]``.

Progress goes to stderr as a plain text bar, the JSON summary to stdout. Errors print one
readable line on stderr and exit with code 2 (a traceback only with ``--debug``); Ctrl+C exits
with 130 after removing partial outputs. Subcommands live in ``SUBCOMMANDS`` so other parts
(models: train/evaluate) can register theirs with :func:`register`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Callable, Optional

from .request import FAST_PATH_MODES, RADIOMETRY_CHOICES

SUBCOMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str]] = {}


def register(name: str, help: str, add_arguments, run) -> None:
    """Register a subcommand: ``add_arguments(parser)``, ``run(args) -> exit code``."""
    SUBCOMMANDS[name] = (add_arguments, run, help)


class ProgressBar:
    """``[#####.....]  42%  message`` redrawn in place on a TTY, a line every 10 % otherwise."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last_decile = -1
        self.t0 = time.perf_counter()
        self.last_draw = 0.0

    def __call__(self, progress, message: Optional[str] = None) -> None:
        """``progress``: the engine's typed Progress (core/progress.py), or a fraction with ``message``."""
        fraction = progress.fraction if message is None else progress
        message = progress.message if message is None else message
        fraction = min(1.0, max(0.0, float(fraction)))
        filled = int(round(fraction * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = time.perf_counter() - self.t0
        eta = ""
        if 0.05 < fraction < 1.0 and elapsed > 2:
            eta = f" (~{elapsed * (1 - fraction) / fraction:.0f}s left)"
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
            if decile == self.last_decile and fraction < 1.0:
                return
            self.last_decile = decile
            self.stream.write(line + "\n")
        self.stream.flush()


def _add_classify(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="raster to classify (any format GDAL reads)")
    p.add_argument("outdir", help="output folder (created if missing)")
    add_run_options(p)
    p.add_argument("--name", help="output file prefix (default: the input's file name)")


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The options of one run, shared by ``classify`` and ``classify-many``."""
    p.add_argument("--model", metavar="CARD", help="model card JSON (default: the bundled model)")
    p.add_argument("--stride", type=int, default=32, help="window stride in pixels: 8, 16, 32 or 64 (default 32)")
    p.add_argument("--bounds", nargs=4, type=float, metavar=("XMIN", "YMIN", "XMAX", "YMAX"), help="area of interest")
    p.add_argument("--bounds-crs", metavar="CRS", help="CRS of --bounds, e.g. EPSG:4326 (default: the raster's)")
    p.add_argument("--bands", nargs="+", type=int, metavar="N", help="1-based source bands for the model, e.g. 4 3 2")
    p.add_argument(
        "--radiometry",
        default="auto",
        choices=RADIOMETRY_CHOICES,
        help="how values are scaled to 0-255 (default auto)",
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


BATCH_GDAL_CACHE_MB = 128


def configure_gdal_for_batch() -> None:
    """Bound GDAL's block cache for a batch run (GDAL's default is 5 % of RAM, which a 20k x 20k
    raster fills and keeps): 128 MB unless GDAL_CACHEMAX is set. Not done inside QGIS, whose
    cache setting belongs to the user."""
    import os

    if "GDAL_CACHEMAX" not in os.environ:
        from osgeo import gdal

        gdal.SetCacheMax(BATCH_GDAL_CACHE_MB * 2**20)


def _run_classify(args: argparse.Namespace) -> int:
    from .pipeline import classify

    configure_gdal_for_batch()
    from .request import ClassificationRequest

    req = ClassificationRequest(
        input_path=args.input,
        output_dir=args.outdir,
        model_card=args.model,
        bands=args.bands,
        radiometry=args.radiometry,
        bounds=args.bounds,
        bounds_crs=args.bounds_crs,
        stride=args.stride,
        batch_size=args.batch_size,
        device=args.device,
        probabilities_dtype="float32" if args.float_probabilities else "uint8",
        write_probabilities=not args.no_probabilities,
        name=args.name,
        threads=args.threads,
        fast_path=args.fast_path,
        overwrite=args.overwrite,
        max_pixels=args.max_pixels,
    )
    progress = None if args.quiet else ProgressBar()
    result = classify(req, progress=progress, is_cancelled=getattr(args, "stop_requested", None))
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    json.dump(result.summary, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


register("classify", "classify a raster with a EuroSAT model", _add_classify, _run_classify)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eurosat_landcover", description="EuroSAT land-cover classification"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (add, _run, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        add(sp)
    return parser


def _load_plugins() -> None:
    """Let other parts register subcommands (models: train/evaluate) when they provide a hook."""
    from .cli_export import register_subcommands as register_export

    register_export(register)
    from .cli_predict import register_subcommands as register_predict

    register_predict(register)
    from .cli_many import register_subcommands as register_many

    register_many(register)
    try:
        from ..models import cli as models_cli  # type: ignore[attr-defined]
    except Exception:
        return
    hook = getattr(models_cli, "register_subcommands", None)
    if callable(hook):
        try:
            hook(register)
        except Exception:  # pragma: no cover - a broken hook must not break classify
            pass


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

        from .errors import Terminated

        signal.signal(signum, signal.SIG_DFL)
        self.signum = signum
        if not self.cancel:
            raise Terminated(signum, signal.Signals(signum).name)

    def __exit__(self, *exc):
        import signal

        for signum, old in self.saved.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)
        return False


def main(argv: Optional[list[str]] = None) -> int:
    _load_plugins()
    parser = build_parser()
    args = parser.parse_args(argv)
    _, run, _ = SUBCOMMANDS[args.command]
    from .errors import ClassificationCancelled, ClassificationError, Terminated
    from .gdalutil import QuietErrors

    debug = getattr(args, "debug", False)
    stop = _StopSignals(cancel=args.command == "classify")
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
        print(f"\nterminated by {exc.name}: partial outputs removed", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("\ninterrupted: partial outputs removed", file=sys.stderr)
        return 130
    except ClassificationCancelled as exc:
        if stop.signum is not None:
            import signal

            print(f"\nterminated by {signal.Signals(stop.signum).name}: partial outputs removed", file=sys.stderr)
            return 128 + stop.signum
        print(f"cancelled: {exc}", file=sys.stderr)
        return 130
    except ClassificationError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"{_eol()}error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # unexpected: still one line unless --debug
        if getattr(args, "debug", False):
            raise
        print(f"{_eol()}error: {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        return 2
