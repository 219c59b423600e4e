"""Stage 2: the model card read once, the weights on the device, and the CPU fast path chosen.

:func:`model_for` depends on the card and the device only, so a caller may keep its result for
the next run (the weights are checked against the card's sha256 on every load).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

from ..errors import ClassificationError


def card_path(model_card, mode: str = "windows") -> Path:
    """The request's model card, or the bundled default of ``mode``; a clear error when the file is missing."""
    from ...models.checkpoint import default_card_path, default_map_card_path

    default = default_map_card_path() if mode == "map" else default_card_path()
    path = Path(model_card) if model_card else default
    if path.is_dir():
        raise ClassificationError(
            f"the model card {path} is a folder: give the card's .json file (it lies beside its .safetensors weights)"
        )
    if not path.is_file():
        which = "the default model" if not model_card else "the model card"
        raise ClassificationError(f"{which} {path} does not exist (no model to classify with)")
    return path


def read_card(model_card, mode: str | None = None):
    """The :class:`ModelCard` at ``model_card`` (None: the bundled model of ``mode``), read once per
    run; a card with more classes than the land-cover raster can hold is refused here, and so is a
    card that does not fit ``mode`` (a per-pixel model in windows mode or a window classifier in map mode)."""
    from ...models.card import ModelCard, ModelCardError
    from ..writers import check_class_count

    try:
        card = ModelCard.load(card_path(model_card, mode or "windows"))
    except ModelCardError as exc:
        raise ClassificationError(f"cannot load the model: {exc}") from None
    check_class_count(card)
    if mode is not None:
        check_mode(card, mode)
    return card


def check_mode(card, mode: str) -> None:
    """A readable error when ``card``'s model cannot run in ``mode``."""
    from ...models.registry import is_per_pixel

    if mode == "map" and not is_per_pixel(card.architecture):
        raise ClassificationError(
            f"the model {card.name} gives one class per window: map mode needs a per-pixel model "
            "(leave the model empty for the bundled one) or choose windows mode"
        )
    if mode != "map" and is_per_pixel(card.architecture):
        raise ClassificationError(
            f"the model {card.name} is a per-pixel map model: choose map mode, or a window classifier for windows mode"
        )


def model_for(card, device):
    """The classifier of ``card`` on ``device``: eval mode, channels_last (core/devices.place_model);
    loaded once per process and reused by later runs (models/model_cache.py)."""
    try:
        from ...models import model_cache
        from ...models.card import ModelCardError
        from ...models.checkpoint import ModelLoadError
    except ImportError as exc:  # pragma: no cover - broken install
        raise ClassificationError(f"the model code cannot be imported ({exc}); reinstall the plugin") from None
    try:
        # on the CPU the network is built only if the run needs it (not when a cached graph serves it)
        return model_cache.load_weights(card, device, lazy=device.type == "cpu")[0]
    except (ModelLoadError, ModelCardError) as exc:
        raise ClassificationError(f"cannot load the model: {exc}") from None


@dataclass
class ModelPath:
    """What runs the windows: the eager model or the traced one, and the report for the summary."""

    model: object  # callable: float N x C x p x p (0-255) -> logits
    report: object  # models.fast_path.FastPathReport
    tried: bool = False  # tracing was attempted (report.prepare_seconds is its cost)
    warning: Optional[str] = None


# ``auto`` does not take INT8 yet: on an AVX-512 VNNI CPU it runs 2.4-2.8 x the fp32 loop and loses <= 0.1 points
# on the test split (calibrated on mosaic windows, classifier refitted), but agrees with fp32 on only 97.0-97.2 % of
# the sample's cells at stride 16 (windows straddling two classes; the shipped quantization-aware fine-tuned model of
# models/int8_shipped.py: 98.7 %), below the 99 % asked before a default may change an analyst's map. Re-running the
# low-margin windows in fp32 reaches 99 % only by re-running a third of them, which leaves no speed gain
# (benchmarks/results_int8.md). INT8 stays opt-in (``fast_path="int8"``); _auto_int8 is the measured choice to
# switch on when it agrees.
AUTO_TAKES_INT8 = False


def choose_fast_path(
    model, mode: str, device, grid, batch_size: int, bands: int, on_trace=None, int8: bool = True
) -> ModelPath:
    """The CPU fast path (models/fast_path.py) when ``mode`` and the run call for it, else the
    eager model; ``on_trace()`` is called before tracing starts; ``warning`` when ``mode="on"``
    asked for a fast path that cannot be built. ``int8=False``: ``auto`` never tries the INT8
    module (map mode: INT8 is opt-in there, core/stages/run_map.choose_map_path)."""
    from ...models import graph_cache, model_cache
    from ...models.fast_path import FastPathReport, eager_reason

    stay_eager = eager_reason(mode, device.type, grid.windows)
    # a model the disk graph cache serves (models/graph_cache.py) is traced once per machine at the
    # request's batch size (smaller batches are padded), so one cached graph serves every run size
    cacheable = device.type == "cpu" and graph_cache.usable(model)
    batch = int(batch_size) if cacheable else min(int(batch_size), grid.windows)
    if stay_eager and eager_reason(mode, device.type, 1 << 62) is None:  # too few windows only
        if cacheable or model_cache.has_fast_path(model, None, batch, bands, grid.patch):
            stay_eager = None  # its cost is paid once (the disk cache, or traced earlier in this process)
    if stay_eager:
        return ModelPath(eager(model), FastPathReport("eager", stay_eager))
    if on_trace is not None:
        on_trace()
    # traced once per model and shape in a process: a new trace per run kept ~50 MB each
    try:
        traced, report = model_cache.fast_path_module(model, None, batch, bands, grid.patch)
    except ClassificationError:
        raise
    except Exception as exc:  # building a lazy model's network failed (models/lazy_model.py)
        raise ClassificationError(f"cannot load the model: {exc}") from None
    warning = f"the CPU fast path is not available: {report.reason}" if mode == "on" and not report.used else None
    chosen = ModelPath(traced if report.used else eager(traced), report, True, warning)
    if mode == "auto" and report.used and int8 and AUTO_TAKES_INT8:
        return _auto_int8(model, chosen, bands, grid.patch)
    return chosen


def choose_model_path(
    model, mode: str, device, grid, batch_size: int, bands: int, on_trace=None, idle_since=None
) -> ModelPath:
    """:func:`choose_fast_path`, and for ``mode="int8"`` the INT8 module of models/int8_path.py (a map model's,
    ``grid.patch`` its tile size: models/int8_map.py), falling back to what ``auto`` picks, with a warning,
    where it cannot be built or fails its probe check.
    ``idle_since`` (a request that set no ``threads``: models/devices.cpu_sample() taken when the run
    began): INT8 loads and runs on the CPUs idle since (:func:`_take_idle_threads`; the caller restores
    torch's thread count after the run)."""
    if mode != "int8" or device.type != "cpu":
        return choose_fast_path(model, "auto" if mode == "int8" else mode, device, grid, batch_size, bands, on_trace)
    if on_trace is not None:
        on_trace()
    default, threads = _take_idle_threads(idle_since) if idle_since is not None else (None, None)
    module, report = int8_module(model, bands, grid.patch)
    if report.used:
        return ModelPath(module, replace(report, reason=f"{report.reason}; {threads}") if threads else report, True)
    if default is not None:  # the fp32 fallback keeps torch's threads, as without INT8
        import torch

        torch.set_num_threads(default)
    fallback = choose_fast_path(model, "auto", device, grid, batch_size, bands)
    why = f"the INT8 path is not available: {report.reason}"
    fallback.report = replace(fallback.report, reason=f"{why}; fast_path=auto: {fallback.report.reason}")
    return replace(fallback, warning=why, tried=True)


def _take_idle_threads(since: tuple) -> tuple[int, str]:
    """Torch's threads set to the CPUs idle now (models/devices.idle_cpu_threads), at most its default:
    -> (the default, a sentence for the summary). OpenMP threads waiting for a core another process holds
    stall every layer: on 2 cores others kept busy (load 4-5), INT8 calls of 1,024-16,129 windows took 1.8-5.1 x
    longer on 2 threads than on 1 (benchmarks/bench_peer.py --plugin-threads engine 2, benchmarks/results_int8.md).
    INT8's outputs do not depend on the thread count."""
    import torch

    from ...models.devices import idle_cpu_threads

    default = torch.get_num_threads()
    threads, why = idle_cpu_threads(default, since)
    torch.set_num_threads(threads)
    return default, f"INT8 run on {threads} of {default} threads ({why})"


def int8_module(model, bands: int, patch: int):
    from ...models import model_cache

    try:
        return model_cache.fast_path_module(model, None, 0, bands, patch, int8=True)
    except Exception as exc:  # building a lazy model's network failed (models/lazy_model.py)
        raise ClassificationError(f"cannot load the model: {exc}") from None


def _auto_int8(model, fp32: ModelPath, bands: int, patch: int) -> ModelPath:
    """``auto`` on a CPU with integer dot products (VNNI / AMX): INT8 when a quick measurement on the
    probe batch finds it faster than the fp32 graph; elsewhere (or slower) the fp32 path unchanged."""
    from ...models import int8_path

    flags = int8_path.int8_flags()
    if not flags:
        return fp32
    module, report = int8_module(model, bands, patch)
    if not report.used:  # the summary says why (no calibration data, the probe check, ...)
        fp32.report = replace(fp32.report, reason=f"{fp32.report.reason}; INT8 not taken: {report.reason}")
        return fp32
    verdict = int8_path.auto_verdict(model, module, fp32.model, bands, patch)
    if verdict["int8_faster"]:
        reason = f"{report.reason}; fast_path=auto on a CPU with {'/'.join(flags)}: {verdict['text']}"
        return ModelPath(module, replace(report, reason=reason), True)
    fp32.report = replace(fp32.report, reason=f"{fp32.report.reason}; INT8 not taken: {verdict['text']}")
    return fp32


def eager(model):
    """The eager model behind a lazy one (models/lazy_model.py), built now: load errors as ClassificationError."""
    from ...models.lazy_model import materialise

    try:
        return materialise(model)
    except Exception as exc:  # ModelLoadError, a missing timm, ...
        raise ClassificationError(f"cannot load the model: {exc}") from None
