"""CPU INT8 path for map mode (issue 26): the per-pixel network quantized at the map tile's fixed shape.

Map mode runs square tiles of one size (core/tiles.TileGrid), so its network's input shape is fixed on
the fast path: :class:`TileNet` is models/map_net.MapNet's forward at that size, without the run-time
padding to a multiple of 32 (Python control flow FX cannot trace) and with the classifier's class
activation map as a 1 x 1 convolution. Its trunk is quantized exactly like the windows classifier
(models/int8_path.py: timm's "same" padding fixed, batch norms folded, FX post-training static
quantization on the ``onednn`` engine, ReLU6 inputs on [0, 6], the stem and the classifier fp32; the trunk's
modules keep timm's names at the top level so the same qconfig helper applies). The decoder is quantized
too: kept fp32 (``quantize(fp32=("decoder",))``), or with the trunk's stride 16-32 blocks and head fp32 too, it
agreed with fp32 about as well and ran slower (benchmarks/bench_int8_map.py, benchmarks/results_int8.md).

Then every quantized convolution's bias is corrected (:func:`correct_biases`, empirical bias correction): 8-bit
activations shift each channel's mean output a little, and per pixel (unlike a window classifier's pooled
features) nothing averages that out; layer by layer, in the order they run, the bias is lowered by the mean
difference between INT8's output and fp32's on calibration tiles (benchmarks/results_int8.md, map mode: the
agreement with fp32 with and without it). int8_path's classifier refit is not used here (not tried).

Calibration: ``CALIBRATION_TILES`` tiles composed from EuroSAT TRAIN-split patches (models/scenes.training_scene:
Voronoi regions, roads and rivers, whole-patch grids) from the windows path's calibration source; the probe
check runs ``PROBE_TILES`` tiles composed from other train patches: INT8's per-pixel classes must agree with
fp32's on ``PROBE_AGREEMENT`` of the pixels and the mean |softmax difference| stay within ``PROBE_MEAN_TOLERANCE``,
else the run falls back to fp32 with a note. Cached on disk like the windows INT8 module (int8_path.save/load,
``<cache>/graphs/int8map_*.pt``; key: the map weights' SHA-256, the tile shape, torch, the CPU); the entry holds
the probe tiles and fp32's probabilities on a pixel lattice (every ``PROBE_STEP``-th pixel).
"""

from __future__ import annotations

import copy
import hashlib
import time
import warnings
from typing import Optional

import numpy as np
import torch
from torch import nn

from . import int8_path
from .map_net import trunk_stages

FORMAT = 2  # 2: biases corrected
CALIBRATION_TILES = 24
PROBE_TILES = 4
CALIBRATION_PATCHES = 256  # train patches the calibration tiles are composed of
PROBE_PATCHES = 64  # other train patches, for the probe tiles
PROBE_STEP = 4  # fp32's probe probabilities stored every 4th pixel (4 tiles of 256 px: 160 k floats)
# the safety check: INT8 agrees with fp32 on ~99 % of the probe tiles' pixels (Voronoi scenes, many boundaries;
# the summary's reason gives the figure; ~98 % without the bias correction), a wrongly quantized network on far fewer
PROBE_MEAN_TOLERANCE = int8_path.PROBE_MEAN_TOLERANCE
PROBE_AGREEMENT = 0.98
# kept fp32 beside int8_path.FP32_MODULES: none (the module docstring; an fp32 block between int8 ones, in
# blocks 0-3, broke the output: not supported)
FP32_MODULES: tuple = ()
SEED = 26
BIAS_TILES = 8  # calibration tiles the bias correction measures on


class TileNet(nn.Module):
    """MapNet at a fixed ``tile`` x ``tile`` input (a multiple of 32: no padding, no crop): normalised
    N x C x tile x tile -> N x K x tile x tile logits, as MapNet's forward gives. The trunk's modules are
    top-level children under timm's names (``conv_stem``, ``blocks``, ...) and the class activation map
    is ``classifier``, a 1 x 1 convolution with the classifier's weights."""

    def __init__(self, mapnet, tile: int):
        super().__init__()
        t = mapnet.trunk
        self.conv_stem, self.bn1, self.blocks, self.conv_head, self.bn2 = (
            t.conv_stem,
            t.bn1,
            t.blocks,
            t.conv_head,
            t.bn2,
        )
        cls = t.classifier
        self.classifier = nn.Conv2d(cls.in_features, cls.out_features, 1)
        with torch.no_grad():
            self.classifier.weight.copy_(cls.weight[:, :, None, None])
            self.classifier.bias.copy_(cls.bias)
        self.decoder = mapnet.decoder
        self.upsample = nn.Upsample(size=(int(tile), int(tile)), mode="bilinear", align_corners=False)

    def forward(self, x):
        feats, x = trunk_stages(self, x)
        cam = self.classifier(self.bn2(self.conv_head(x)))
        return self.upsample(self.decoder(*feats, cam))


def quantize(
    model, tiles: torch.Tensor, fp32=FP32_MODULES, batch_size: int = 4, correct: bool = True, correct_skip=()
) -> int8_path.Int8Classifier:
    """The eager map ``model`` (a LandCoverClassifier around a MapNet) quantized at ``tiles``' size,
    calibrated on ``tiles`` (float 0-255, N x C x tile x tile). ``fp32``: modules left fp32 beside
    int8_path.FP32_MODULES; ``correct``: the biases corrected (:func:`correct_biases`, but not under
    ``correct_skip``) on the first ``BIAS_TILES`` tiles."""
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = int8_path.ENGINE
    model = model.eval()
    norm = lambda x: ((x.float() - model.mean) / model.std).contiguous(memory_format=torch.channels_last)  # noqa: E731
    example = norm(tiles[:1])
    net = int8_path.static_padding(TileNet(model.net, tiles.shape[-1]).eval(), example)
    reference = copy.deepcopy(net)  # prepare_fx fuses the decoder's blocks in place
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sites = [s for s in int8_path.relu6_sites(net, example) if not (_in(s[0], fp32) or _in(s[1], fp32))]
        mapping = int8_path._qconfig(sites, fast=False)
        for name in fp32:  # beside int8_path.FP32_MODULES (the stem and the classifier)
            mapping.set_module_name(name, None)
        prepared = prepare_fx(net, mapping, (example,))
        with torch.inference_mode():
            for i in range(0, tiles.shape[0], batch_size):
                prepared(norm(tiles[i : i + batch_size]))
        qnet = convert_fx(prepared)
    for _, act in sites:  # the ReLU6s whose input is quantized on [0, 6] already (as int8_path.quantize)
        if int8_path._in_fp32(act):
            continue
        parent, _, child = act.rpartition(".")
        setattr(qnet.get_submodule(parent), child, nn.Identity())
    if correct:
        correct_biases(qnet, reference, {conv for conv, _ in sites}, norm(tiles[:BIAS_TILES]), skip=correct_skip)
    return int8_path.Int8Classifier(qnet, model.mean, model.std).eval()


def correct_biases(qnet, net, relu6_convs: set, x: torch.Tensor, skip=()) -> int:
    """Empirical bias correction, layer by layer in the order they run: each quantized convolution's bias
    lowered by the mean, per output channel on the normalised tiles ``x``, of INT8's output (with the layers
    before it already corrected) minus the fp32 network ``net``'s (clipped to [0, 6] where the INT8 output is
    the ReLU6's; for a convolution fused with its batch norm and ReLU, the fp32 block's output). -> corrected."""
    import torch.ao.nn.intrinsic.quantized as nniq
    import torch.ao.nn.quantized as nnq

    convs = [
        (n, m) for n, m in qnet.named_modules() if isinstance(m, (nnq.Conv2d, nniq.ConvReLU2d)) and not _in(n, skip)
    ]
    fp32 = {n: n.rpartition(".")[0] if isinstance(m, nniq.ConvReLU2d) else n for n, m in convs}
    want: dict = {}
    hooks = [
        net.get_submodule(fp32[n]).register_forward_hook(
            lambda _m, _a, o, n=n: want.__setitem__(n, _channel_mean(o.clamp(0, 6) if n in relu6_convs else o))
        )
        for n, _ in convs
    ]
    with torch.inference_mode():
        net(x)
    for h in hooks:
        h.remove()
    got: dict = {}
    for n, m in convs:
        h = m.register_forward_hook(lambda _m, _a, o: got.__setitem__("mean", _channel_mean(o.dequantize())))
        with torch.inference_mode():
            qnet(x)
        h.remove()
        bias = m.bias() if m.bias() is not None else torch.zeros_like(want[n])
        m.set_weight_bias(m.weight(), bias - (got["mean"] - want[n]))
    return len(convs)


def _channel_mean(t: torch.Tensor) -> torch.Tensor:
    return t.float().mean(dim=(0, 2, 3))


def _in(name: str, modules) -> bool:
    return any(name == m or name.startswith(m + ".") for m in modules)


def calibration_tiles(card, tile: int):
    """``(calibration uint8 N x C x tile x tile, probe tiles, description)`` composed from EuroSAT TRAIN-split
    patches of int8_path.calibration_source (calibration and probe from disjoint patches), or (None, None, why)."""
    from .dataset import list_eurosat, load_arrays, stratified_split
    from .scenes import PatchBank, training_scene

    source = int8_path.calibration_source()
    if source is None:
        why = f"no EuroSAT training data to calibrate on (set {int8_path.CALIBRATION_ENV} to the EuroSAT RGB zip)"
        return None, None, why
    n = CALIBRATION_PATCHES + PROBE_PATCHES
    try:
        train = stratified_split(list_eurosat(source, card.class_names), classes=card.class_names)["train"]
        items = train[:: max(1, len(train) // n)][:n]
        images, labels = load_arrays(source, items, size=card.patch_size)
    except Exception as exc:  # a foreign or unreadable data source
        return None, None, f"the calibration data {source} could not be read ({type(exc).__name__}: {exc})"
    rng = np.random.default_rng(SEED)
    # every n-th of a class-sorted list: both halves hold every class when taken alternately
    cal = np.arange(len(items)) % (n // PROBE_PATCHES) != 0
    banks = PatchBank(images[cal], labels[cal]), PatchBank(images[~cal], labels[~cal])
    scenes = [
        np.stack([training_scene(rng, bank, tile, card.class_names)[0] for _ in range(count)])
        for bank, count in zip(banks, (CALIBRATION_TILES, PROBE_TILES))
    ]
    digest = hashlib.sha256("\n".join(m for m, _ in items).encode()).hexdigest()[:16]
    described = (
        f"{CALIBRATION_TILES} tiles of {tile} px composed (models/scenes.py) from {int(cal.sum())} EuroSAT "
        f"train-split patches of {source.name} ({digest})"
    )
    return scenes[0], scenes[1], described


def probabilities(fn, tiles: torch.Tensor, batch_size: int = 4) -> torch.Tensor:
    """Softmax of ``fn`` on ``tiles`` on the probe lattice (every ``PROBE_STEP``-th pixel), N x K x h x w."""
    with torch.inference_mode():
        return torch.cat(
            [
                torch.softmax(fn(tiles[i : i + batch_size].float()).float(), dim=1)[..., ::PROBE_STEP, ::PROBE_STEP]
                for i in range(0, tiles.shape[0], batch_size)
            ]
        )


def compare(int8, reference: torch.Tensor, probe: torch.Tensor) -> dict:
    """INT8's probabilities on the ``probe`` tiles against fp32's (``reference``, on the probe lattice):
    max and mean |difference| per pixel, per-pixel class agreement."""
    return int8_path.difference_stats(probabilities(int8, probe), reference)


def check_failure(stats: dict) -> Optional[str]:
    """Why the probe comparison fails, or None when it passes."""
    if not stats["mean"] <= PROBE_MEAN_TOLERANCE or not stats["agreement"] >= PROBE_AGREEMENT:
        return (
            f"the INT8 map model differs from fp32 on the probe tiles (mean |softmax difference| {stats['mean']:.3f}, "
            f"pixel agreement {stats['agreement']:.1%}; limits {PROBE_MEAN_TOLERANCE}, {PROBE_AGREEMENT:.0%})"
        )
    return None


def map_key(model, bands: int, tile: int) -> Optional[dict]:
    """The cache entry's key (int8_path.int8_key at the tile shape, plus this module's settings), or None."""
    key = int8_path.int8_key(model, bands, tile)
    if key is None:
        return None
    key.pop("refit", None)
    key.update(map_format=FORMAT, calibration=[CALIBRATION_TILES, CALIBRATION_PATCHES, SEED], fp32=list(FP32_MODULES))
    return key


def prepare(model, bands: int, tile: int):
    """``(callable, FastPathReport)``: the INT8 map module at ``tile`` px (from the disk cache, else quantized
    and cached) when it passes the probe check, else the eager ``model`` with the reason (path "eager")."""
    from .fast_path import FastPathReport
    from .graph_cache import entry_path
    from .lazy_model import materialise

    t0 = time.perf_counter()

    def fallback(reason: str, note: Optional[str] = None, diff=None):
        return model, FastPathReport("eager", reason, time.perf_counter() - t0, diff, None, note)

    if int8_path.ENGINE not in torch.backends.quantized.supported_engines:
        return fallback(f"this PyTorch build has no {int8_path.ENGINE} quantized engine (INT8 path)")
    torch.backends.quantized.engine = int8_path.ENGINE
    key = map_key(model, bands, tile)
    path = entry_path(key, kind="int8map") if key is not None else None
    note = "no cached INT8 map model yet" if path is not None else "not cached (a model handed in, or no cache folder)"
    try:
        module = None
        if path is not None and path.is_file():
            module, probe, reference = int8_path.load(key, path)
            note = f"loaded {path}" if module is not None else probe
        if module is None:
            eager = materialise(model).eval()
            card = eager.card if eager.card is not None else model.card
            calib, probe, described = calibration_tiles(card, tile)
            if calib is None:
                return fallback(described, note)
            probe = torch.from_numpy(probe)
            module = int8_path.freeze(quantize(eager, torch.from_numpy(calib).float()), probe[:1].float())
            reference = probabilities(eager, probe)
            note += f"; calibrated on {described}"
            if path is not None:
                note += "; " + int8_path.save(module, key, probe, reference, path)
        module = MapModule(module, _mean(model)).eval()
        stats = compare(module, reference, probe.float())
    except Exception as exc:  # quantization unsupported for this network or build: fp32
        return fallback(f"INT8 map model could not be built ({type(exc).__name__}: {exc})", note)
    failure = check_failure(stats)
    if failure:
        return fallback(failure, note, stats["max"])
    fp32 = ", ".join((*int8_path.FP32_MODULES, *FP32_MODULES))
    reason = (
        f"CPU run: INT8 map model at {tile} px tiles (PyTorch FX post-training static quantization, "
        f"{int8_path.ENGINE} engine, {fp32} fp32), checked against fp32 on {probe.shape[0]} tiles of train "
        f"patches: pixel agreement {stats['agreement']:.1%}, mean |softmax difference| {stats['mean']:.4f}"
    )
    return module, FastPathReport("int8", reason, time.perf_counter() - t0, stats["max"], None, note)


def _mean(model) -> list:
    """The normalisation mean (from the card: a lazy model is not built for it)."""
    card = getattr(model, "card", None)
    return [float(v) for v in card.mean] if card is not None else model.mean.reshape(-1).tolist()


class MapModule(int8_path.Unoptimised):
    """The frozen INT8 map module (run unoptimised, as the windows one) with the model's ``mean``: map mode
    fills nodata pixels with it (core/stages/run_map._fill_values), as for the fp32 model."""

    def __init__(self, script, mean):
        super().__init__(script)
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
