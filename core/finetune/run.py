"""Fine-tune a model from an analyst's labels on an image: examples read as the engine reads, a new card.

Each labelled point becomes the window the engine itself reads there: :class:`core.inspect.Inspector`
(the engine's band mapping, radiometry, working raster at the model's gsd, strip read, validity rule and
filling), centred on the point. For an edit log whose run read this very image, the inspector is made from
the run's summary, so the windows have the run's radiometry (percentile limits included).

Every refusal is one :class:`ClassificationError` sentence raised before anything is written; the weights
and the card are written only at the end (each under a temporary name, then renamed).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..errors import ClassificationCancelled, ClassificationError
from ..progress import FINETUNE, Progress, ProgressFn, as_callback, scaled
from .labels import LabelledPoints, read_labels


@dataclass
class Examples:
    x: np.ndarray  # (n, C, p, p) float32, 0-255: the model inputs
    y: np.ndarray  # (n,) class indices
    outside: int = 0
    nodata: int = 0
    notes: list = field(default_factory=list)
    image: Optional[np.ndarray] = None  # (m, C, p, p): windows of the engine's grid, for the semi-supervised parts


def _same_file(a, b) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def inspector_for(image, points: LabelledPoints, card_path, bands=None, radiometry: str = "auto"):
    """The engine's view of ``image``: the edit log's run when it read this image, else a fresh one."""
    from ..inspect import Inspector

    summary = points.run_summary
    if summary is not None and summary.is_file():
        try:
            d = json.loads(summary.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            d = None
        same_model = card_path is None or _same_file((d or {}).get("model", {}).get("card") or "", card_path)
        if d and same_model and _same_file(d.get("input", {}).get("path", ""), image):
            return Inspector.from_summary(d)
    return Inspector(image, card_path, bands=bands, radiometry=radiometry)


def read_examples(inspector, points: LabelledPoints, progress: Optional[ProgressFn] = None) -> Examples:
    """The window the engine reads at each point (points outside the raster or on nodata left out);
    ``progress(Progress)`` every 16 points."""
    xs, ys, outside, nodata = [], [], 0, 0
    for i, ((x, y), label) in enumerate(zip(points.xy, points.labels)):
        try:
            col, row, _shifted = inspector.centred_pixel(float(x), float(y), points.crs_wkt or None)
            data, _valid = inspector.read_window(col, row)
        except ClassificationError as exc:
            if "outside the raster" in str(exc) or "cannot be transformed" in str(exc):
                outside += 1
                continue
            if "no data" in str(exc):
                nodata += 1
                continue
            raise
        xs.append(data)
        ys.append(int(label))
        if progress is not None and i % 16 == 0:
            progress(Progress(i / max(1, len(points)), FINETUNE, "reading"))
    p, c = inspector.patch, len(inspector.card.bands)
    ex = Examples(np.asarray(xs, np.float32).reshape(-1, c, p, p), np.asarray(ys, np.int64), outside, nodata)
    if outside:
        ex.notes.append(f"{outside} label(s) outside the image left out")
    if nodata:
        ex.notes.append(f"{nodata} label(s) on nodata left out")
    return ex


def image_windows(inspector, max_windows: int, seed: int = 0, progress: Optional[ProgressFn] = None) -> np.ndarray:
    """Windows of the engine's grid (stride one window) over the whole image, at most ``max_windows`` (a
    seeded choice); windows with any nodata are left out. They are the image as the model will see it:
    the look calibration and the semi-supervised parts of fine-tuning (models/finetune_pseudo.py) learn its
    look from them. ``progress(Progress)`` every 64 windows (a JPEG 2000 tile takes tens of seconds)."""
    p, c = inspector.patch, len(inspector.card.bands)
    grid = [(col, row) for row in range(0, inspector.wr.height - p + 1, p)
            for col in range(0, inspector.wr.width - p + 1, p)]  # fmt: skip
    if len(grid) > max_windows:
        take = np.random.default_rng(seed).choice(len(grid), size=max_windows, replace=False)
        grid = [grid[i] for i in sorted(take)]
    out = []
    for i, (col, row) in enumerate(grid if max_windows > 0 else []):
        if progress is not None and i % 64 == 0:
            progress(Progress(i / len(grid), FINETUNE, f"reading the image's windows ({i} of {len(grid)})"))
        try:
            data, valid = inspector.read_window(col, row)
        except ClassificationError:  # no data under it
            continue
        if valid.all():
            out.append(data)
    return np.asarray(out, np.float32).reshape(-1, c, p, p)


def examples_at(
    image,
    points: LabelledPoints,
    card_path,
    bands=None,
    radiometry="auto",
    progress: Optional[ProgressFn] = None,
    recipe=None,
) -> Examples:
    """The windows the engine reads at ``points`` of ``image`` and, when the recipe (default: the shipped
    one) uses them, up to ``recipe.pseudo_max`` windows of its grid (GDAL handles closed before returning);
    ``progress`` sees them fill 0.02..0.10 of a fine-tuning's bar (the labels' windows, then the image's)."""
    from ...models.finetune_recipe import Recipe

    recipe = recipe or Recipe()
    insp = inspector_for(image, points, card_path, bands, radiometry)
    try:
        ex = read_examples(insp, points, None if progress is None else scaled(progress, 0.02, 0.05))
        if recipe.uses_image():
            ex.image = image_windows(insp, recipe.pseudo_max, recipe.seed, scaled(progress, 0.05, 0.1))
        return ex
    finally:
        insp.src = insp.wr = None


def _run_model(points: LabelledPoints, image) -> Optional[str]:
    """The model card of the run an edit log belongs to, when that run read ``image`` and the card is there."""
    try:
        d = json.loads(points.run_summary.read_text(encoding="utf-8")) if points.run_summary else {}
    except (OSError, ValueError):
        return None
    card = (d.get("model") or {}).get("card") or ""
    same_image = _same_file((d.get("input") or {}).get("path") or "", image)
    return card if same_image and card and Path(card).is_file() else None


def check_output(out_card: Path, parent_card: Path, overwrite: bool) -> None:
    """Refuse an output that is not a .json card, exists, would replace the parent, or cannot be written."""
    if out_card.suffix.lower() != ".json":
        raise ClassificationError(f"the new model card must be a .json file, not {out_card.name}")
    if _same_file(out_card, parent_card):
        raise ClassificationError("the new model card would replace its parent: choose another name")
    for p in (out_card, out_card.with_suffix(".safetensors")):
        if p.exists() and not overwrite:
            raise ClassificationError(f"{p} exists: choose another name or allow overwriting")
    folder = out_card.parent
    probe = folder if folder.exists() else next((q for q in folder.parents if q.exists()), folder)
    if not os.access(probe, os.W_OK):
        raise ClassificationError(f"the folder {folder} cannot be written: choose another place for the new model")


def _replay_source(replay_data) -> Path:
    from ...models.finetune import default_replay_data

    path = Path(replay_data) if replay_data else default_replay_data()
    if not path.exists():
        raise ClassificationError(
            f"fine-tuning replays EuroSAT training patches so the model keeps what it knew, and {path} is missing: "
            "give the EuroSAT RGB zip (--replay-data)"
        )
    return path


def finetune_from_labels(
    image,
    labels,
    out_card,
    *,
    class_field: Optional[str] = None,
    model=None,
    replay_data=None,
    sample_holdout: float = 0.0,
    bands=None,
    radiometry: str = "auto",
    recipe=None,
    overwrite: bool = False,
    progress: Optional[ProgressFn] = None,
    is_cancelled: Optional[Callable[[], bool]] = None,
    command: str = "",
) -> dict:
    """Read the examples, fine-tune, write ``out_card`` + its weights; returns the card's record.
    ``model`` None: the model of the edit log's run when it read ``image`` (a map-mode run: its map card, whose
    trunk is fine-tuned: models/finetune_map.py), else the bundled model.
    ``labels`` may be already read points (the QGIS page reads its edit log on the main thread);
    ``progress(Progress)`` (core/progress.py, stage "finetune"), ``is_cancelled()`` polled between steps."""
    from ...models import finetune as ft
    from ...models.checkpoint import ModelLoadError, default_card_path, load_model
    from ...models.finetune_map import trunk_classifier
    from ...models.registry import is_per_pixel
    from ..stages.model import read_card

    t0 = time.perf_counter()
    progress = as_callback(progress)

    def report(fraction: float, message: str) -> None:
        progress(Progress(fraction, FINETUNE, message))

    out_card = Path(out_card)
    if not Path(image).exists():
        raise ClassificationError(f"the image {image} does not exist")
    card0 = read_card(model)
    if isinstance(labels, LabelledPoints):  # already read (the QGIS page reads its log on the main thread)
        points, labels = labels, labels.source
    else:
        points = read_labels(labels, card0.class_names, class_field, sample_holdout=sample_holdout)
    if model is None and (run_model := _run_model(points, image)) is not None:
        model, card0 = run_model, read_card(run_model)  # an edit log's run: its model (map mode: its map card)
    parent_path = Path(model) if model else default_card_path()
    check_output(out_card, parent_path, overwrite)
    if len(points) == 0:
        raise ClassificationError(f"{Path(labels).name} holds no labelled cell or feature: label some first")
    replay_path = _replay_source(replay_data)
    recipe = recipe or ft.Recipe()
    report(0.02, f"reading {len(points)} window(s) as the engine reads them")
    ex = examples_at(image, points, str(parent_path), bands, radiometry, progress, recipe)
    if len(ex.y) == 0:
        raise ClassificationError(
            f"none of the {len(points)} label(s) lies on data of {Path(image).name}: is it the image they were made on?"
        )
    try:
        ft.check_examples(ex.y, card0.class_names)
    except ft.FinetuneError as exc:
        raise ClassificationError(str(exc)) from None
    try:
        parent, card = load_model(parent_path, device="cpu")
    except ModelLoadError as exc:
        raise ClassificationError(f"cannot load the model: {exc}") from None
    map_parent = None
    if is_per_pixel(card.architecture):  # a map card: its trunk, the window classifier, is what is fine-tuned
        map_parent, parent = parent, trunk_classifier(parent)
    report(0.12, "decoding EuroSAT replay, validation and test patches")
    replay = ft.replay_arrays(replay_path, recipe.replay_per_class, recipe.seed)
    # the validation patches choose a weight-training epoch: none to choose without one (epochs 0)
    selection = ft.selection_arrays(replay_path, recipe.selection_per_class, recipe.seed) if recipe.epochs else None
    test = ft.eurosat_test_arrays(replay_path, every=recipe.test_every)
    before = ft.accuracy(parent.without_calibration(), *test)  # a calibrated parent: its network, as after
    report(0.2, "fine-tuning")

    def step(f, msg):  # models/ cannot import core.progress: its (fraction, message) becomes a Progress here
        report(0.2 + 0.7 * f, msg)

    try:
        res = ft.finetune(parent, ex.x, ex.y, replay, recipe, step, is_cancelled, selection=selection,
                          unlabelled=ex.image)  # fmt: skip
    except ft.FinetuneCancelled as exc:
        raise ClassificationCancelled(str(exc)) from None
    except ft.FinetuneError as exc:
        raise ClassificationError(str(exc)) from None
    report(0.92, "measuring on the EuroSAT test split")
    # as the network sees EuroSAT (no calibration: EuroSAT imagery is the training look), and through the
    # card's input calibration (what the new card does to EuroSAT imagery); the card's figure is the first
    after = before if res.best_epoch == 0 else ft.accuracy(res.model.without_calibration(), *test)  # same network
    through = ft.accuracy(res.model, *test) if res.calibration else None
    record = _record(
        card, parent_path, points, ex, res, recipe, (before, after, len(test[1]), through), image, command, replay_path
    )
    if is_cancelled is not None and is_cancelled():
        raise ClassificationCancelled("fine-tuning cancelled")
    if map_parent is not None:
        record["map_model"] = _as_map_card(res, map_parent, card)
    ft.save_finetuned(res, card, out_card, out_card.stem, dict(record))
    record["card"] = str(out_card)
    record["seconds_total"] = round(time.perf_counter() - t0, 1)
    report(1.0, "done")
    return record


def _as_map_card(res, map_parent, card) -> dict:
    """The fine-tuned trunk put back behind the parent map card's decoder (``res.model`` becomes the map model
    the new card saves); -> the record's ``map_model`` entry."""
    from ...models.finetune_map import trunk_changed, with_trunk

    res.model = with_trunk(map_parent, res.model)
    moved = trunk_changed(map_parent, res.model)
    decoder = {"name": card.name, "weights_sha256": card.weights_sha256}  # the parent map card's own decoder
    return {
        "trunk": "fine-tuned (its weights moved; the decoder was trained on the parent's)"
        if moved
        else "the parent's, unchanged (the input calibration is the change)",
        "decoder_from": decoder,
        "figures": "metrics.eurosat_test and metrics.holdout are the trunk's, the window classifier's, on 64 px "
        "windows (per-window, not per-pixel figures)",
    }


def _record(card, parent_path, points, ex, res, recipe, test, image, command, replay_path) -> dict:
    from ...models.finetune import counts_by_name

    before, after, n_test, through = test

    names = card.class_names
    return {
        "parent": {"card": str(parent_path), "name": card.name, "weights_sha256": card.weights_sha256},
        "examples": {
            "image": str(image),
            "labels": [{"file": points.source, "kind": points.kind, "points": len(points)}],
            "windows": int(len(ex.y)),
            "per_class": counts_by_name(ex.y, names),
            "train_per_class": res.train_counts,
            "holdout_per_class": res.holdout_counts,
            "left_out": {"outside": ex.outside, "nodata": ex.nodata},
            "image_windows": 0 if ex.image is None else int(len(ex.image)),
            "pseudo_labelled": res.pseudo_labelled,
            "notes": [*points.notes, *ex.notes],
        },
        "recipe": {**recipe.to_dict(), "trained_parameters": res.trained_parameters, "replay_data": str(replay_path)},
        "analyst_look": res.style,
        "input_calibration_fit": res.calibration_fit,
        "history": res.history,
        "best_epoch": res.best_epoch,
        "stopped": res.stopped,
        "seconds_finetuning": round(res.seconds, 1),
        "cpu_seconds_finetuning": round(res.cpu_seconds, 1),
        "command": command,
        "metrics": {
            "test_accuracy": after,
            "split": "test",
            "eurosat_test": {
                "before": before,
                "after": after,
                "after_through_calibration": through,
                "judged_on": "after: the network as it sees EuroSAT imagery, without the input calibration "
                "(the calibration maps the analyst's imagery into EuroSAT's look)",
                "split_seed": 42,
                "samples": n_test,
            },
            "holdout": {
                "before": res.holdout_before,
                "after": res.holdout_after,
                "examples": sum(res.holdout_counts.values()),
            },
            "eurosat_val_selection": {"before": res.val_before, "after": res.val_after, "split_seed": 42},
        },
    }
