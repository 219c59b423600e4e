"""Grad-CAM (models/gradcam.py): it localises on real EuroSAT imagery, for every architecture, CPU and GPU."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("captum")

from eurosat_landcover.models import gradcam  # noqa: E402
from eurosat_landcover.models.registry import ARCHITECTURES, is_per_pixel  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
RGB_ZIP = REPO_ROOT.parent / "shared" / "datasets" / "eurosat-rgb" / "EuroSAT_RGB.zip"


def _images(cls: str, n: int) -> list[np.ndarray]:
    from PIL import Image

    if not RGB_ZIP.is_file():
        pytest.skip(f"EuroSAT RGB zip not found at {RGB_ZIP}")
    with zipfile.ZipFile(RGB_ZIP) as zf:
        names = sorted(m for m in zf.namelist() if f"/{cls}/" in m and m.endswith(".jpg"))[:n]
        return [np.asarray(Image.open(io.BytesIO(zf.read(m))).convert("RGB")) for m in names]


def half_and_half(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """A 64 x 64 patch: the left half of one real image beside the right half of another."""
    return np.concatenate([left[:, :32], right[:, 32:]], axis=1)


@pytest.fixture(scope="module")
def bundled():
    from eurosat_landcover.models.checkpoint import default_card_path, load_model

    if not default_card_path().is_file():
        pytest.skip("bundled model missing")
    return load_model(None, device="cpu")


def test_forest_map_on_the_forest_half_and_sealake_map_on_the_water_half(bundled):
    model, card = bundled
    forest, water = card.class_names.index("Forest"), card.class_names.index("SeaLake")
    patches, sides = [], []
    for f, s in zip(_images("Forest", 3), _images("SeaLake", 3)):
        patches += [half_and_half(f, s), half_and_half(s, f)]
        sides += ["left", "right"]  # where the forest half is
    x = np.stack([p.transpose(2, 0, 1) for p in patches]).astype(np.float32)
    for target, want in ((forest, "forest"), (water, "water")):
        res = gradcam.grad_cam(model, x, target)
        assert res.heatmaps.shape == (len(patches), 64, 64)
        assert res.layer == "blocks.4" and res.raw.shape[1:] == (4, 4)
        assert res.heatmaps.min() >= 0 and res.heatmaps.max() <= 1
        margins = []
        for heat, side in zip(res.heatmaps, sides):
            left, right = heat[:, :32].mean(), heat[:, 32:].mean()
            forest_half, water_half = (left, right) if side == "left" else (right, left)
            margins.append(forest_half - water_half if want == "forest" else water_half - forest_half)
        # brighter on its own half in every patch, and clearly so on average (maps are 0..1)
        assert min(margins) > 0, (want, margins)
        assert np.mean(margins) > 0.2, (want, margins)


def test_top_class_is_the_default_target_and_probabilities_match_the_model(bundled):
    model, _card = bundled
    x = np.stack([_images("Forest", 1)[0].transpose(2, 0, 1)]).astype(np.float32)
    res = gradcam.grad_cam(model, x)
    with torch.no_grad():
        p = torch.softmax(model(torch.from_numpy(x)), 1).numpy()
    assert res.targets == [int(p.argmax())]
    np.testing.assert_allclose(res.probabilities, p, atol=1e-6)
    # works inside inference_mode too (the engine's context)
    with torch.inference_mode():
        again = gradcam.grad_cam(model, torch.from_numpy(x))
    np.testing.assert_allclose(again.heatmaps, res.heatmaps, atol=1e-6)
    with pytest.raises(ValueError, match="out of range"):
        gradcam.grad_cam(model, x, 12)


@pytest.mark.parametrize("arch", sorted(a for a in ARCHITECTURES if not is_per_pixel(a)))
def test_every_registry_architecture_has_a_cam_layer_that_works(arch):
    """Every window classifier (a map-mode model explains with its own per-pixel probabilities instead)."""
    from eurosat_landcover.models.checkpoint import LandCoverClassifier
    from eurosat_landcover.models.registry import build_model, eurosat_rgb_card

    torch.manual_seed(0)
    card = eurosat_rgb_card(arch, f"t_{arch}")
    model = LandCoverClassifier(build_model(arch), card.mean, card.std, card=card).eval().use_channels_last(True)
    x = torch.rand(2, 3, 64, 64) * 255
    res = gradcam.grad_cam(model, x, [0, 3])
    assert res.layer == ARCHITECTURES[arch].cam_layer
    assert res.raw.shape[1:] == (4, 4), "the CAM layer is the stride-16 stage"
    assert res.heatmaps.shape == (2, 64, 64) and np.isfinite(res.heatmaps).all()
    assert res.targets == [0, 3]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_gpu_gives_the_cpu_heat_map(bundled):
    from eurosat_landcover.models.checkpoint import load_model
    from eurosat_landcover.models.devices import resolve_device

    device, _ = resolve_device("cuda")
    gpu_model, _card = load_model(None, device=device)
    x = np.stack([half_and_half(_images("Forest", 1)[0], _images("SeaLake", 1)[0]).transpose(2, 0, 1)])
    x = x.astype(np.float32)
    cpu = gradcam.grad_cam(bundled[0], x, 1)
    gpu = gradcam.grad_cam(gpu_model, x, 1)
    assert gpu.device.startswith("cuda")
    # cuDNN may run the convolutions in TF32: close, not equal; the same half is bright
    np.testing.assert_allclose(gpu.heatmaps, cpu.heatmaps, atol=0.05)
    np.testing.assert_allclose(gpu.probabilities, cpu.probabilities, atol=5e-3)
    assert (gpu.heatmaps[0][:, :32].mean() > gpu.heatmaps[0][:, 32:].mean()) == (
        cpu.heatmaps[0][:, :32].mean() > cpu.heatmaps[0][:, 32:].mean()
    )


def test_overlay_and_colours():
    rgb = np.full((4, 4, 3), 100, np.uint8)
    heat = np.zeros((4, 4), np.float32)
    heat[0, 0] = 1.0
    assert np.array_equal(gradcam.overlay(rgb, heat, 0.0), rgb)
    out = gradcam.overlay(rgb, heat, 1.0)
    assert np.array_equal(out[1:, 1:], rgb[1:, 1:]), "no evidence leaves the patch as it is"
    assert tuple(out[0, 0]) == tuple(gradcam.colormap_lut()[255])
    lut = gradcam.colormap_lut()
    assert lut.shape == (256, 3) and lut[0, 2] > lut[0, 0] and lut[255, 0] > lut[255, 2]  # blue -> red


def test_without_captum_a_clear_error_and_the_engine_still_imports(tmp_path):
    from PIL import Image

    jpg = tmp_path / "forest.jpg"
    Image.fromarray(_images("Forest", 1)[0]).save(jpg)
    code = (
        "import sys; sys.modules['captum'] = None\n"
        "import eurosat_landcover.core.inspect, eurosat_landcover.core.predict, eurosat_landcover.cli.predict\n"
        "from eurosat_landcover.models import gradcam\n"
        "try:\n"
        "    gradcam._captum()\n"
        "except gradcam.GradCamUnavailable as e:\n"
        "    print('MSG', e)\n"
        "from eurosat_landcover.toolbelt.dependencies import missing_optional\n"
        "print('OPTIONAL', missing_optional())\n"
        "from eurosat_landcover.cli import main\n"
        f"print('PREDICT', main(['predict', {str(jpg)!r}, '--device', 'cpu']))\n"
        f"print('GRADCAM', main(['predict', {str(jpg)!r}, '--gradcam', {str(tmp_path / 'x.png')!r}]))\n"
    )
    env = dict(os.environ, PYTHONPATH="")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT.parent, env=env)
    assert out.returncode == 0, out.stderr
    assert "MSG" in out.stdout and "pip install" in out.stdout and "captum" in out.stdout
    # the dependency check names it as optional, for the Explain page
    assert "OPTIONAL ['captum (Grad-CAM heat maps (Explain page" in out.stdout
    # predict works without it; --gradcam is refused in one line that says what to install
    assert "PREDICT 0" in out.stdout and "GRADCAM 2" in out.stdout
    assert "error: Grad-CAM heat maps need the Python package captum" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "x.png").exists()
