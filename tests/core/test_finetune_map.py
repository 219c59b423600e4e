"""'Learn from my corrections' on a MAP-mode run: the CLI's ``finetune`` on the edit log of a real map-mode run of
the sample mosaic writes a MAP card (the run's map model's trunk fine-tuned, its decoder the parent's) that
``classify(mode="map")`` loads and runs. Before, the map card's per-pixel logits reached the window code and the
command ended in "AttributeError: 'bool' object has no attribute 'mean'"; without ``--model`` the bundled window
classifier was fine-tuned instead, a card map mode refuses.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import torch
from test_finetune import MOSAIC, QUICK, TRUTH, run_cli

MAP_NAME = "eurosat_rgb_lite0_map"


def _map_run(tmp_path: Path, card=None) -> Path:
    from eurosat_landcover.core.pipeline import classify
    from eurosat_landcover.core.request import ClassificationRequest

    image = tmp_path / "mosaic.tif"
    if not image.exists():
        shutil.copy(MOSAIC, image)
    req = ClassificationRequest(image, tmp_path / ("out" if card is None else "again"), model_card=card, mode="map",
                                threads=1, fast_path="off", write_probabilities=False)  # fmt: skip
    return Path(classify(req).classes_path)


def _corrections(classes: Path, blocks) -> Path:
    """The run's edit log: each block's centre pixel reviewed and given its true class, and one 3 x 3 pixel
    polygon edit (map mode's cells are pixels)."""
    from eurosat_landcover.core.edits import Edit
    from eurosat_landcover.core.edits.log import EditLog
    from eurosat_landcover.core.edits.model import RasterGrid, Window
    from osgeo import gdal

    ds = gdal.Open(str(classes))
    grid = RasterGrid.of(ds)
    ds = None
    log = EditLog.create(classes.with_name("mosaic_edits.gpkg"), grid, classes)
    for b in blocks:
        r, c = b["row"] * 64 + 32, b["col"] * 64 + 32
        x, y = grid.cell_center(r, c)
        log.add_review("cell", r, c, "corrected", b["class_index"], f"POINT ({x} {y})")
    b = blocks[0]
    square = grid.cell_polygon_wkt(Window(b["col"] * 64 + 10, b["row"] * 64 + 10, 3, 3))
    log.add(Edit(tool="polygon", geometry_wkt=square, to_class=b["class_index"]))
    log.close()
    return log.path


def test_improve_on_a_map_mode_run_writes_a_map_card_map_mode_runs(tmp_path, capsys, eurosat_rgb_zip):
    from eurosat_landcover.models.checkpoint import default_map_card_path, load_model

    classes = _map_run(tmp_path)
    log = _corrections(classes, TRUTH["blocks"][:40])
    out = tmp_path / "models" / "mine.json"
    # no --model: the edit log's run's model, the map card
    code, stdout, err = run_cli([tmp_path / "mosaic.tif", log, out, "--replay-data", eurosat_rgb_zip, *QUICK], capsys)
    assert code == 0, err
    record = json.loads(stdout)
    model, card = load_model(out)
    parent, parent_card = load_model(default_map_card_path())
    assert card.architecture == parent_card.architecture == "tf_efficientnet_lite0_map"
    assert card.training["fine_tuned_from"]["name"] == MAP_NAME
    assert record["examples"]["labels"][0]["kind"] == "edit log" and record["examples"]["windows"] == 40 + 9
    # the decoder is the parent's; the trunk (the window classifier, whose classifier gives the CAM) the fine-tuned
    dec, dec0 = model.net.decoder.state_dict(), parent.net.decoder.state_dict()
    assert all(torch.equal(v, dec0[k]) for k, v in dec.items())
    trunk, trunk0 = model.net.trunk.state_dict(), parent.net.trunk.state_dict()
    moved = any(not torch.equal(v, trunk0[k]) for k, v in trunk.items())
    assert moved == (record["best_epoch"] > 0) and record["map_model"]["trunk"].startswith(
        "fine-tuned" if moved else "the parent's"
    )
    assert card.training["map_model"]["decoder_from"]["weights_sha256"] == parent_card.weights_sha256
    assert (model.calibration is not None) == bool(card.input_calibration)
    assert 0.0 <= card.metrics["test_accuracy"] <= 1.0 and card.metrics["eurosat_test"]["samples"] == 41
    # map mode loads and runs it: a class for every pixel, the summary naming the new card
    again = _map_run(tmp_path, out)
    summary = json.loads(again.with_name("mosaic_summary.json").read_text())
    assert summary["mode"] == "map" and Path(summary["model"]["card"]).resolve() == out.resolve()
    from osgeo import gdal

    ds = gdal.Open(str(again))
    got = ds.GetRasterBand(1).ReadAsArray()
    ds = None
    truth = np.zeros_like(got)
    for b in TRUTH["blocks"]:
        truth[b["row"] * 64 : (b["row"] + 1) * 64, b["col"] * 64 : (b["col"] + 1) * 64] = b["class_index"]
    assert got.shape == (512, 768) and (got == truth).mean() > 0.8  # the parent scores ~0.9 per pixel here


def test_the_map_models_trunk_is_its_window_classifier():
    """models/finetune_map: the classifier view of the bundled map card answers as the bundled window classifier
    (the map model's trunk is a frozen copy of it), and putting a classifier back leaves the decoder alone."""
    from eurosat_landcover.models.checkpoint import default_map_card_path, load_model
    from eurosat_landcover.models.finetune_map import trunk_changed, trunk_classifier, with_trunk

    map_model, _ = load_model(default_map_card_path())
    window, _ = load_model(None)
    x = torch.as_tensor(np.random.default_rng(0).integers(0, 255, (4, 3, 64, 64)), dtype=torch.float32)
    view = trunk_classifier(map_model)
    with torch.inference_mode():
        assert torch.allclose(view(x), window(x), atol=1e-5)
        assert view.card.architecture == "tf_efficientnet_lite0" and view.card.class_names == window.card.class_names
        back = with_trunk(map_model, view)
        assert not trunk_changed(map_model, back) and torch.allclose(back(x), map_model(x), atol=1e-5)
        changed = copy.deepcopy(view)  # a copy: the view shares the map model's trunk
        changed.net.classifier.bias.add_(1.0)
        assert trunk_changed(map_model, with_trunk(map_model, changed))
