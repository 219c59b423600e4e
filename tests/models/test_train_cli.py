"""Training through the main CLI (``python -m eurosat_landcover train``) and on a class set of one's own:
the card is written, loads with its weights, and names the classes the model was trained on."""

import json
import shutil

import torch
from eurosat_landcover.cli import main as cli_main
from eurosat_landcover.models import train
from eurosat_landcover.models.card import EUROSAT_COLORS, recipe_of
from eurosat_landcover.models.checkpoint import load_model
from eurosat_landcover.models.dataset import EUROSAT_CLASSES, training_classes

# one epoch of two batches, one thread: a smoke run (as TINY in test_train_evaluate.py)
SMOKE = ["--epochs", "1", "--batch-size", "8", "--max-train-batches", "2", "--eval-batch-size", "16"]
SMOKE += ["--patience", "0", "--threads", "1", "--arch", "tf_efficientnet_lite0"]


def test_main_cli_train_writes_a_loadable_card(tiny_folder, tmp_path):
    out = tmp_path / "run"
    assert cli_main(["train", str(tiny_folder), "--out", str(out), *SMOKE]) == 0
    model, card = load_model(out / "eurosat_rgb_lite0.json")
    assert card.class_names == list(EUROSAT_CLASSES)
    assert card.training["command"].startswith("python -m eurosat_landcover ")
    # the recipe holds the training's options, exactly those of models.train (no CLI bookkeeping)
    recipe = card.training["recipe"]
    options = set(vars(train.build_parser().parse_args([str(tiny_folder)]))) - {"data", "out", "resume"}
    assert set(recipe) == options and recipe["epochs"] == 1 and recipe["zoom"] == [0.85, 1.0]
    assert json.loads(json.dumps(recipe)) == recipe
    with torch.no_grad():
        assert model(torch.full((2, 3, 64, 64), 90.0)).shape == (2, 10)


def test_custom_class_set_names_reach_the_card(tiny_folder, tmp_path):
    """Real EuroSAT JPEGs under other class names: the card names the folders, not EuroSAT's first three."""
    data = tmp_path / "three"
    for new, old in (("Wald", "Forest"), ("Wasser", "SeaLake"), ("Siedlung", "Residential")):
        shutil.copytree(tiny_folder / old, data / new)
    out = tmp_path / "run"
    assert train.main([str(data), "--out", str(out), "--name", "three", *SMOKE]) == 0
    model, card = load_model(out / "three.json")
    assert card.class_names == ["Siedlung", "Wald", "Wasser"]
    assert card.training["split"]["test"]["count"] == 3 and card.metrics["test"]["n"] == 3
    assert len({c.color for c in card.classes}) == 3 and "Wald" in card.description
    with torch.no_grad():
        assert model(torch.full((2, 3, 64, 64), 90.0)).shape == (2, 3)


def test_training_classes_order(tiny_folder, tmp_path):
    assert training_classes(tiny_folder) == list(EUROSAT_CLASSES)  # EuroSAT's ten, in EuroSAT's order
    data = tmp_path / "two"
    shutil.copytree(tiny_folder / "River", data / "Water")
    shutil.copytree(tiny_folder / "Forest", data / "Forest")
    assert training_classes(data) == ["Forest", "Water"]  # folders of one's own: sorted
    assert training_classes(data, ["Water", "Forest"]) == ["Water", "Forest"]  # --classes: as given
    subset = tmp_path / "subset"  # a subset of EuroSAT's folders still trains the ten EuroSAT outputs
    shutil.copytree(tiny_folder / "River", subset / "River")
    assert training_classes(subset) == list(EUROSAT_CLASSES)
    assert set(EUROSAT_COLORS) == set(EUROSAT_CLASSES)


def test_recipe_keeps_plain_option_values_only():
    class Args:
        pass

    args = Args()
    args.__dict__.update(
        epochs=3, lr=1e-3, zoom=(0.85, 1.0), name=None, no_amp=True, device="cpu", command="train", debug=False
    )
    args.stop_requested = lambda: False
    args.data, args.weird = "x.zip", object()
    assert recipe_of(args, leave_out=("data",)) == {
        "epochs": 3,
        "lr": 1e-3,
        "zoom": [0.85, 1.0],
        "name": None,
        "no_amp": True,
        "device": "cpu",
    }


def test_map_train_card_recipe_is_json_with_a_callback_on_args():
    from types import SimpleNamespace

    from eurosat_landcover.models import map_train

    args = map_train.parse_args(["--classifier", "c.json", "--out", "o"])
    args.stop_requested = lambda: False  # what the main CLI puts on args
    split = {"train": [("Forest/a.jpg", 1)], "val": [("River/b.jpg", 8)], "test": []}
    fields = map_train.card_fields(args, SimpleNamespace(name="base", weights_sha256="0" * 64), split, [], 1, 0.5)
    recipe = json.loads(json.dumps(fields))["training"]["recipe"]
    assert recipe["name"] == args.name and not {"stop_requested", "classifier", "out"} & set(recipe)


def test_an_unknown_texture_class_is_one_readable_line_and_writes_nothing(tiny_folder, tmp_path, capsys):
    out = tmp_path / "run"
    bad = ["--texture", "0.3", "--texture-classes", "Sea"]
    rc = cli_main(["train", str(tiny_folder), "--out", str(out), *SMOKE, *bad])
    err = capsys.readouterr().err
    assert rc != 0 and "--texture-classes Sea: not a class of this training" in err and "SeaLake" in err
    assert "Traceback" not in err and not list(out.glob("*.json"))
