"""End-to-end: a tiny training run, resume, the evaluation CLI on a known case, compare."""

import json

import pytest
import torch
from eurosat_landcover.models import compare, evaluate, train
from eurosat_landcover.models.card import ModelCard, eurosat_classes
from eurosat_landcover.models.checkpoint import LandCoverClassifier, load_model, save_checkpoint
from eurosat_landcover.models.dataset import split_fingerprint, stratified_split
from eurosat_landcover.models.registry import ARCHITECTURES, build_model, eurosat_rgb_card
from eurosat_landcover.models.train import augment_batch

# one thread: fast enough for these toy sizes and robust when the CPU is shared
TINY = [
    "--epochs",
    "2",
    "--batch-size",
    "8",
    "--max-train-batches",
    "2",
    "--eval-batch-size",
    "16",
    "--log-every",
    "1",
    "--patience",
    "0",
    "--threads",
    "1",
]


def test_augment_batch_keeps_shape_range_and_is_exact_for_pure_dihedral():
    torch.manual_seed(0)
    x = torch.rand(16, 3, 64, 64) * 255
    y = augment_batch(x.clone())
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 255
    # without zoom and jitter every output is an exact rotation/flip of its input
    y = augment_batch(x.clone(), zoom=(1.0, 1.0), zoom_p=0, jitter=0)
    for xi, yi in zip(x, y):
        cands = [torch.rot90(v, k, (1, 2)) for v in (xi, xi.flip(2)) for k in range(4)]
        assert min((c - yi).abs().max().item() for c in cands) < 1e-3


def test_tiny_training_run_end_to_end_and_resume(tiny_zip, tmp_path, capsys):
    out = tmp_path / "run"
    argv = [str(tiny_zip), "--out", str(out), "--arch", "tf_efficientnet_lite0", *TINY]
    assert train.main(argv) == 0
    card_path = out / "eurosat_rgb_lite0.json"
    model, card = load_model(card_path)
    assert (out / "train.log").stat().st_size > 0 and (out / "last.pt").is_file()
    assert card.architecture == "tf_efficientnet_lite0" and card.class_names == [c.name for c in eurosat_classes()]
    assert card.mean == [127, 127, 127] and card.bands == ["B04", "B03", "B02"]
    t = card.training
    assert t["command"] == "python -m eurosat_landcover.models.train " + " ".join(argv)
    assert t["split"]["seed"] == 42 and t["split"]["test"]["count"] == 10
    expected = split_fingerprint(stratified_split(tiny_zip, seed=42))
    assert t["split"]["test"]["members_sha256"] == expected["test"]["members_sha256"]
    assert t["init"].startswith("ImageNet") and t["epochs_run"] == 2 and len(t["history"]) == 2
    assert 0 <= card.metrics["test"]["accuracy"] <= 1 and card.metrics["test"]["n"] == 10
    assert card.metrics["test"]["command"] == t["command"]
    assert card.metrics["test_accuracy"] == card.metrics["test"]["accuracy"]
    with torch.no_grad():
        assert model(torch.full((2, 3, 64, 64), 90.0)).shape == (2, 10)
    # resume one more epoch from last.pt
    assert train.main([*argv, "--epochs", "3", "--resume"]) == 0  # the last --epochs wins
    card2 = ModelCard.load(card_path)
    assert card2.training["epochs_run"] == 3 and [h["epoch"] for h in card2.training["history"]] == [1, 2, 3]
    assert "resumed from" in (out / "train.log").read_text()


def test_freeze_backbone_trains_head_only(tiny_folder, tmp_path):
    out = tmp_path / "frozen"
    train.main(
        [
            str(tiny_folder),
            "--out",
            str(out),
            "--arch",
            "resnet18",
            "--pretrained",
            "no",
            "--freeze-backbone",
            "--skip-test",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--max-train-batches",
            "1",
            "--log-every",
            "0",
            "--threads",
            "1",
        ]
    )
    torch.manual_seed(42)
    fresh = build_model("resnet18", 10)
    model, card = load_model(out / "eurosat_rgb_resnet18.json")
    assert torch.equal(model.net.conv1.weight, fresh.conv1.weight)  # backbone untouched
    assert not torch.equal(model.net.fc.weight, fresh.fc.weight)  # head trained
    assert card.training["init"].startswith("random") and "test" not in card.metrics


def _always_forest_model(tmp_path):
    """A lite0 whose classifier ignores the image and always says Forest (class 1)."""
    net = build_model("tf_efficientnet_lite0", 10)
    with torch.no_grad():
        net.classifier.weight.zero_()
        net.classifier.bias.zero_()
        net.classifier.bias[1] = 5.0
    spec = ARCHITECTURES["tf_efficientnet_lite0"]
    card = eurosat_rgb_card("tf_efficientnet_lite0", "forest", title="always forest")
    return save_checkpoint(LandCoverClassifier(net, spec.mean, spec.std), card, tmp_path / "forest.json")


def test_evaluate_cli_on_a_known_case(tiny_folder, tmp_path, capsys):
    card_path = _always_forest_model(tmp_path)
    out_json = tmp_path / "eval.json"
    assert (
        evaluate.main(
            [
                "--model",
                str(card_path),
                str(tiny_folder),
                "--batch-size",
                "32",
                "--json",
                str(out_json),
                "--record",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "overall accuracy: 10.00 %" in text  # 6 Forest images out of 60
    assert "Forest" in text and "windows/s (batch 32" in text
    assert "AnnualCrop -> Forest: 6" in text
    res = json.loads(out_json.read_text())
    assert res["n"] == 60 and res["accuracy"] == pytest.approx(0.1)
    forest = res["per_class"]["Forest"]
    assert forest["precision"] == pytest.approx(0.1) and forest["recall"] == 1.0
    assert forest["f1"] == pytest.approx(2 * 0.1 / 1.1)
    assert res["per_class"]["River"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 6}
    assert all(row[1] == 6 and sum(row) == 6 for row in res["confusion"])
    assert res["inference"]["windows"] == 60 and res["inference"]["windows_per_second"] > 0
    card = ModelCard.load(card_path)  # --record stored the figures and the command
    assert card.metrics[f"eval_{tiny_folder.name}"]["accuracy"] == pytest.approx(0.1)
    assert card.metrics[f"eval_{tiny_folder.name}"]["command"].startswith("python -m eurosat_landcover.models.evaluate")
    load_model(card_path)  # recording metrics keeps the weights valid


def test_evaluate_cli_split_option(tiny_zip, tmp_path, capsys):
    card_path = _always_forest_model(tmp_path)
    out_json = tmp_path / "test.json"
    evaluate.main(
        [
            "--model",
            str(card_path),
            str(tiny_zip),
            "--split",
            "test",
            "--seed",
            "42",
            "--json",
            str(out_json),
            "--threads",
            "1",
        ]
    )
    res = json.loads(out_json.read_text())
    expected = split_fingerprint(stratified_split(tiny_zip, seed=42))["test"]
    assert res["n"] == expected["count"] == 10 and res["members_sha256"] == expected["members_sha256"]
    assert res["accuracy"] == pytest.approx(0.1)


def test_compare_runs_and_prints_a_table(tiny_zip, tmp_path, capsys):
    table = tmp_path / "compare.md"
    rows = compare.run(
        compare.build_parser().parse_args(
            [
                str(tiny_zip),
                "--archs",
                "tf_efficientnet_lite0",
                "nope",
                "--out",
                str(tmp_path / "cmp"),
                "--epochs",
                "1",
                "--batch-size",
                "8",
                "--max-train-batches",
                "1",
                "--eval-batch-size",
                "16",
                "--bench-windows",
                "64",
                "--bench-batch",
                "32",
                "--log-every",
                "0",
                "--table",
                str(table),
                "--threads",
                "1",
            ]
        ),
        "cmd",
    )
    assert rows[0]["arch"] == "tf_efficientnet_lite0" and rows[0]["cpu_wps"] > 0 and 3 < rows[0]["params_m"] < 4
    assert rows[1]["error"] == "unknown architecture"
    assert "| tf_efficientnet_lite0 | ImageNet | 1 |" in table.read_text()
    again = compare.run(
        compare.build_parser().parse_args(
            [
                *(str(tiny_zip), "--archs", "tf_efficientnet_lite0", "--out", str(tmp_path / "cmp"), "--reuse"),
                *("--bench-windows", "32", "--bench-batch", "32", "--threads", "1"),
            ]
        ),
        "cmd",
    )
    assert again[0]["test_acc"] == rows[0]["test_acc"] and again[0]["val_acc"] == rows[0]["val_acc"]


def test_the_cli_lists_the_model_commands():
    import argparse

    from eurosat_landcover.cli.models import COMMANDS

    registered = {c.name: (c.add_arguments, c.run) for c in COMMANDS}
    assert set(registered) == {"train", "evaluate", "compare"}
    p = argparse.ArgumentParser()
    registered["evaluate"][0](p)
    assert p.parse_args(["--split", "test", "--batch-size", "64"]).batch_size == 64
