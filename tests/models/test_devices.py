"""Device choice and placement (models/devices.py)."""

from __future__ import annotations

import pytest
from eurosat_landcover.models.devices import available_devices, resolve_device


def test_devices():
    ids = [d for d, _ in available_devices()]
    assert ids[0] == "auto" and "cpu" in ids
    dev, warn = resolve_device("cpu")
    assert dev.type == "cpu" and warn is None
    import torch

    if not torch.cuda.is_available():
        dev, warn = resolve_device("cuda:1")
        assert dev.type in ("cpu", "mps") and "CUDA is not available" in warn
    dev, warn = resolve_device("tpu")
    assert warn and "tpu" in warn


def test_autocast_and_placement_are_decided_in_one_place():
    import torch
    from eurosat_landcover.models.checkpoint import LandCoverClassifier
    from eurosat_landcover.models.devices import autocast_dtype, place_model, require_device
    from torch import nn

    assert autocast_dtype(torch.device("cpu")) is None
    assert autocast_dtype(torch.device("mps")) == torch.float16
    if torch.cuda.is_available():
        assert autocast_dtype(torch.device("cuda", 0)) in (torch.bfloat16, torch.float16)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train()
    placed = place_model(net, torch.device("cpu"))
    assert not placed.training and placed[0].weight.is_contiguous(memory_format=torch.channels_last)
    clf = LandCoverClassifier(nn.Sequential(nn.Conv2d(3, 4, 3)), [0, 0, 0], [1, 1, 1]).train()
    assert place_model(clf, torch.device("cpu")).channels_last and not clf.training
    assert require_device("cpu").type == "cpu"
    with pytest.raises(SystemExit, match="'tpu' cannot be used"):
        require_device("tpu")
