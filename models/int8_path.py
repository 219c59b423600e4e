"""CPU INT8 path: the classifier quantized by PyTorch's post-training static quantization (or the shipped
quantization-aware fine-tuned model where there is one for the loaded weights).

FX graph mode (``torch.ao.quantization.quantize_fx``) run by the ``onednn`` quantized engine: weights
int8 per channel (symmetric), activations uint8 over the full 0-255 range, calibrated (histogram
observers) on the windows, at half a patch's stride, of a mosaic of EuroSAT TRAIN-split patches
(models/dataset.py's stratified split of the shared EuroSAT zip, or the folder/zip named by
``EUROSAT_LANDCOVER_CALIBRATION_DATA``): most of them straddle two to four patches, like a map's windows
where land cover changes (cell agreement with fp32 on validation mosaics 97.7 -> 98.1 % against whole
patches, benchmarks/results_int8.md). timm's ``tf_`` networks pad
"same" at run time (Python control flow FX cannot trace), so those convolutions are first replaced by
fixed padding for the patch size (:func:`static_padding`, identical output) and the batch norms are
folded into the convolutions.

What keeps INT8 within 0.2 points of fp32 on the EuroSAT test split (benchmarks/results_int8.md; the
first version lost 7 points): every convolution whose output goes into a ReLU6 is quantized with the
fixed range [0, 6] (scale 6/255, :func:`relu6_sites`), so the 8-bit saturation *is* the ReLU6 -- FX
has no conv + ReLU6 fusion and otherwise quantizes the pre-activation range (often -40..40) and
clips after, leaving ReLU6's output a dozen levels; and ``reduce_range`` is off (7-bit activations
cost 4 points): the ``onednn`` engine takes full-range uint8 (VNNI), the ``x86`` engine's fbgemm
kernels need the reduced range on CPUs without VNNI and ran 7 x slower than ``onednn`` here. The
first convolution (the normalised input) and the classifier stay fp32 (the stem in int8 cost 1 point).
The classifier is then refitted by least squares to give fp32's logits from the INT8 features on windows
straddling train patches (models/int8_refit.py: cell agreement with fp32 on mosaics +1.1 points).

The PT2E flow (``X86InductorQuantizer``) needs ``torch.compile``'s Inductor, i.e. a C++ compiler at
run time, to run faster than fp32: without it the converted graph runs quantize/dequantize pairs
around fp32 kernels, so it is not used here (see models/fast_path.py on compilers beside QGIS).
PyTorch 2.14 warns that its quantized tensors (what FX's converted modules run on) are deprecated;
the probe check and the fp32 fallback keep the engine working when they go.

Where a quantization-aware fine-tuned model is shipped for the loaded weights (models/int8_shipped.py, made by
models/int8_qat.py; the parent weights' SHA-256, architecture and normalisation must match), :func:`build` takes
it instead: the same FX graph converted with the shipped state loaded over it, no calibration data needed;
any other model is calibrated as above. The summary says which ran.

Cached on disk like the fp32 graph (models/graph_cache.py): the quantized module traced with
TorchScript, with its key (weights' SHA-256, torch, CPU, calibration), the probe patches and the fp32
model's probabilities on them, under ``<cache>/graphs/int8_*.pt`` (written by this user, never a file
of the repository); a later process loads it without building the eager network, so timm,
torchvision and the Triton they pull in stay out of memory. Checked like the fp32 fast path:
probabilities on the probe batch of real patches are compared with the fp32 model's; when they
differ more than ``PROBE_MEAN_TOLERANCE`` / ``PROBE_AGREEMENT`` the engine falls back with a note.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
import warnings
from pathlib import Path
from typing import Optional

import torch

from .int8_graph import static_padding
from .int8_refit import REFIT_PATCHES, mosaic_windows, refit_classifier

# 7: the refit kept only where it helps on held-out windows; 6: calibrated on mosaic windows;
# 5: classifier refitted (models/int8_refit.py); 4: traced and frozen;
# 3: the traced module with fp32's probe probabilities; 2: onednn, ReLU6 ranges fixed
FORMAT = 7
ENGINE = "onednn"
RELU6_SCALE = 6.0 / 255
CALIBRATION_PATCHES = 256
PROBE_PATCHES = 64
# INT8 is not bit-identical to fp32: on held-out train patches the mean |softmax difference| and the
# top-1 agreement (issue 26 asks >= 99 % agreement with fp32) must pass, else the engine stays fp32.
PROBE_MEAN_TOLERANCE = 0.03
PROBE_AGREEMENT = 0.99
INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")  # /proc/cpuinfo flags with integer dot products
FP32_MODULES = ("conv_stem", "classifier")
METHODS = {False: "PyTorch FX post-training static quantization", True: "quantization-aware fine-tuned, shipped"}
CALIBRATION_ENV = "EUROSAT_LANDCOVER_CALIBRATION_DATA"


def int8_flags() -> list[str]:
    """The integer dot-product instruction flags this CPU reports (empty without VNNI / AMX)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return [f for f in INT8_FLAGS if f in flags]
    except OSError:
        pass
    return []


class Int8Classifier(torch.nn.Module):
    """Normalisation in fp32, then the quantized network: float N x C x p x p (0-255) -> logits."""

    def __init__(self, qnet, mean, std):
        super().__init__()
        self.net = qnet
        self.register_buffer("mean", mean.detach().clone(), persistent=False)
        self.register_buffer("std", std.detach().clone(), persistent=False)

    def forward(self, x):
        x = (x.float() - self.mean) / self.std
        return self.net(x.contiguous(memory_format=torch.channels_last))


def calibration_source() -> Optional[Path]:
    """The EuroSAT data the INT8 path calibrates on, or None when none is reachable."""
    from .dataset import DEFAULT_DATASET

    named = os.environ.get(CALIBRATION_ENV, "").strip()
    path = Path(named) if named else DEFAULT_DATASET
    return path if path.exists() else None


def calibration_patches(card, n: int = CALIBRATION_PATCHES + PROBE_PATCHES, refit: int = 0):
    """``(uint8 N x 3 x p x p, description)``: ``n`` patches spread over the TRAIN split, then ``refit``
    others (for models/int8_refit.py), or (None, why)."""
    from .dataset import list_eurosat, load_arrays, stratified_split

    source = calibration_source()
    if source is None:
        return None, f"no EuroSAT training data to calibrate on (set {CALIBRATION_ENV} to the EuroSAT RGB zip)"
    try:
        train = stratified_split(list_eurosat(source, card.class_names), classes=card.class_names)["train"]
        items = train[:: max(1, len(train) // n)][:n]
        taken = set(items)
        rest = [it for it in train if it not in taken]
        items += rest[:: max(1, len(rest) // max(1, refit))][:refit]
        images, _ = load_arrays(source, items, size=card.patch_size)
    except Exception as exc:  # a foreign or unreadable data source
        return None, f"the calibration data {source} could not be read ({type(exc).__name__}: {exc})"
    digest = hashlib.sha256("\n".join(m for m, _ in items).encode()).hexdigest()[:16]
    refitted = f" (+ {len(items) - n} to refit the classifier)" if refit else ""
    described = f"{min(len(items), CALIBRATION_PATCHES)} EuroSAT train-split patches{refitted} of {source.name}"
    return images, f"{described} ({digest})"


def relu6_sites(net: torch.nn.Module, example: torch.Tensor) -> list[tuple[str, str]]:
    """``(convolution, ReLU6)`` module names of each convolution whose output goes (through identities
    only) into a ReLU6, in the folded network of :func:`static_padding`."""
    names = {m: n for n, m in net.named_modules()}
    order: list = []
    hooks = [m.register_forward_pre_hook(lambda m, a: order.append(m)) for m in net.modules() if not list(m.children())]
    with torch.no_grad():
        net(example[:1])
    for h in hooks:
        h.remove()
    sites = []
    for i, m in enumerate(order):
        if not isinstance(m, torch.nn.ReLU6):
            continue
        j = i - 1
        while j >= 0 and isinstance(order[j], torch.nn.Identity):
            j -= 1
        if j >= 0 and isinstance(order[j], torch.nn.Conv2d):
            sites.append((names[order[j]], names[m]))
    return sites


def _in_fp32(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in FP32_MODULES)


def _qconfig(sites: list[tuple[str, str]], fast: bool):
    """The QConfigMapping: histogram observers (``fast``: min/max ones with the same structure, the
    scales are loaded over them), per-channel weights, [0, 6] fixed for ReLU6 inputs, FP32_MODULES fp32."""
    from torch.ao.quantization import QConfig, QConfigMapping
    from torch.ao.quantization.observer import (
        FixedQParamsObserver,
        HistogramObserver,
        MinMaxObserver,
        PerChannelMinMaxObserver,
    )

    weight = PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    observer = MinMaxObserver if fast else HistogramObserver
    mapping = QConfigMapping().set_global(QConfig(activation=observer.with_args(reduce_range=False), weight=weight))
    relu6 = QConfig(activation=FixedQParamsObserver.with_args(scale=RELU6_SCALE, zero_point=0), weight=weight)
    for conv, act in sites:
        if not _in_fp32(conv):
            mapping.set_module_name(conv, relu6)
        elif not _in_fp32(act):  # an fp32 convolution's output is quantized where its ReLU6's module takes it
            mapping.set_module_name(act.rpartition(".")[0], relu6)
    for name in FP32_MODULES:  # the layers most sensitive to 8 bits stay fp32 (a small share of the work)
        mapping.set_module_name(name, None)
    return mapping


def quantize(model, images: torch.Tensor, batch_size: int = 64, calibrate: bool = True) -> Int8Classifier:
    """The eager ``model`` quantized, calibrated on ``images`` (float 0-255, N x C x p x p)."""
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = ENGINE  # the weights are packed for the engine set now
    model = model.eval()
    norm = lambda x: ((x.float() - model.mean) / model.std).contiguous(memory_format=torch.channels_last)  # noqa: E731
    example = norm(images[:1])
    net = static_padding(model.net, example)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sites = relu6_sites(net, example)
        prepared = prepare_fx(net, _qconfig(sites, fast=not calibrate), (example,))
        with torch.inference_mode():
            for i in range(0, images.shape[0] if calibrate else 1, batch_size):
                prepared(norm(images[i : i + batch_size]))
        qnet = convert_fx(prepared)
    for _, act in sites:  # their input is quantized on [0, 6] already: the ReLU6 would copy it unchanged
        if _in_fp32(act):
            continue
        parent, _, child = act.rpartition(".")
        setattr(qnet.get_submodule(parent), child, torch.nn.Identity())
    return Int8Classifier(qnet, model.mean, model.std).eval()


def probabilities(fn, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return torch.softmax(fn(x.float()).float(), dim=1)


def compare(int8, reference: torch.Tensor, probe: torch.Tensor) -> dict:
    """INT8's probabilities on ``probe`` against fp32's (``reference``, N x K): max and mean |difference|,
    top-1 agreement."""
    return difference_stats(probabilities(int8, probe), reference)


def difference_stats(p8: torch.Tensor, reference: torch.Tensor) -> dict:
    """INT8's probabilities ``p8`` against fp32's (class axis 1): max and mean |difference| (half the L1 per
    sample or pixel), top-1 agreement. Shared by the windows and the map (models/int8_map.py) probe checks."""
    d = (p8 - reference).abs()
    return {
        "max": float(d.max()),
        "mean": float(d.sum(dim=1).mean() / 2),
        "agreement": float((p8.argmax(1) == reference.argmax(1)).float().mean()),
    }


def check_failure(stats: dict) -> Optional[str]:
    """Why the probe comparison fails, or None when it passes."""
    if not stats["mean"] <= PROBE_MEAN_TOLERANCE or not stats["agreement"] >= PROBE_AGREEMENT:
        return (
            f"the INT8 model differs from fp32 on the probe batch (mean |softmax difference| {stats['mean']:.3f}, "
            f"top-1 agreement {stats['agreement']:.1%}; limits {PROBE_MEAN_TOLERANCE}, {PROBE_AGREEMENT:.0%})"
        )
    return None


def cache_path(key: dict) -> Optional[Path]:
    from .graph_cache import entry_path

    return entry_path(key, kind="int8")


def freeze(module: Int8Classifier, example: torch.Tensor):
    """The quantized module traced with TorchScript and frozen (any batch size; no Python per layer, and a
    later process loads it without building the timm network: timm, torchvision and Triton stay unimported).
    Frozen, it is one inlined graph: loading it took 21 MB instead of 46 MB of the traced module's
    per-submodule code (benchmarks/bench_memory.py), and it runs no slower."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation, see models/fast_path.py
        with torch.no_grad():
            return torch.jit.freeze(torch.jit.trace(module, example.float(), check_trace=False).eval())


class Unoptimised(torch.nn.Module):
    """The frozen INT8 module run without TorchScript's graph-executor optimisation (thread-local, for the call
    only): nothing fuses in a graph of quantized ops, so the executor's profiling run and plan only cost time
    (probe check 0.091 -> 0.048 s: results_int8.md, fifth session), and its outputs are the same bit for bit
    whether or not an fp32 fast-path run turned oneDNN fusion on (the plan's moved by up to 5e-7)."""

    def __init__(self, script):
        super().__init__()
        self.script = script

    def forward(self, x):
        with torch.jit.optimized_execution(False):
            return self.script(x)


def save(module, key: dict, probe: torch.Tensor, reference: torch.Tensor, path: Path) -> str:
    """Write the traced module with its key, the probe patches and fp32's probabilities on them (atomic)."""
    from .weights_memo import write_atomic

    try:
        archive = io.BytesIO()
        torch.jit.save(module, archive)
        buf = io.BytesIO()
        blob = torch.frombuffer(bytearray(archive.getvalue()), dtype=torch.uint8)  # loads with weights_only=True
        entry = {"key": key, "module": blob, "probe": probe.to(torch.uint8), "reference": reference}
        torch.save(entry, buf)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, buf.getvalue())
    except Exception as exc:  # a full disk: the run goes on
        return f"the INT8 model could not be cached ({type(exc).__name__}: {exc})"
    return f"quantized and cached as {path}"


def load(key: dict, path: Path):
    """-> (traced module, probe uint8, fp32 reference probabilities) from the cache entry, or (None, why, None)."""
    try:
        entry = torch.load(str(path), map_location="cpu", weights_only=True)
        if entry.get("key") != key:
            return None, f"the cached INT8 model {path.name} was made for another model, torch or CPU: ignored", None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's deprecation of quantized tensors: see the module docstring
            module = torch.jit.load(io.BytesIO(entry["module"].numpy().tobytes()), map_location="cpu")
        return module, entry["probe"], entry["reference"].float()
    except Exception as exc:  # corrupt or foreign: quantized afresh
        return None, f"the cached INT8 model {path.name} could not be used ({type(exc).__name__}): ignored", None


def windows_per_second(fn, x: torch.Tensor, repeats: int = 3) -> float:
    """Best of ``repeats`` calls of ``fn`` on ``x`` (after one warm-up call)."""
    best = float("inf")
    with torch.inference_mode():
        fn(x)
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn(x)
            best = min(best, time.perf_counter() - t0)
    return x.shape[0] / best


def int8_key(model, bands: int, patch: int) -> Optional[dict]:
    """The cache entry's key, or None for a model not loaded from a verified weights file."""
    from .graph_cache import cpu_fingerprint, model_identity
    from .int8_shipped import find

    identity = model_identity(model)
    if identity is None:
        return None
    shipped = find(identity, bands, patch)  # its file's SHA-256: a new file never loads an old entry
    return {
        **({"shipped": shipped[1]["sha256"]} if shipped else {}),
        "format": FORMAT,
        **identity,
        "torch": str(torch.__version__),  # a plain str: the entry loads with weights_only=True
        "cpu": cpu_fingerprint(),
        "bands": int(bands),
        "patch": int(patch),
        "calibration": CALIBRATION_PATCHES,
        "refit": REFIT_PATCHES,
        "engine": ENGINE,
    }


def from_shipped(eager, json_path: Path, meta: dict):
    """``(INT8 module, probe patches uint8)`` of a shipped model (models/int8_shipped.py): ``eager``'s network
    quantized without calibration, then the shipped state loaded over it (the observers' scales overwritten)."""
    from .int8_shipped import read

    entry = read(json_path, meta)
    module = quantize(eager, torch.zeros(1, entry["bands"], entry["patch"], entry["patch"]), calibrate=False)
    module.load_state_dict(entry["state"])
    return module.eval(), entry["probe"]


def build(eager, card, key: Optional[dict], patch: int):
    """``(quantized module, probe patches, what was done, shipped)``: the shipped quantization-aware fine-tuned
    model where ``key`` names one (models/int8_shipped.py: no EuroSAT data needed), else post-training
    quantization calibrated on EuroSAT train patches; ``(None, None, why, False)`` when neither is available."""
    from . import int8_shipped

    why = ""
    found = int8_shipped.find(key, key["bands"], patch) if key and key.get("shipped") else None
    if found is not None:
        try:
            quantized, probe = from_shipped(eager, *found)
            return quantized, probe, f"the shipped {found[1]['method']} model {found[1]['file']}", True
        except Exception as exc:  # a damaged or foreign file: calibrated as before
            why = f"the shipped INT8 model {found[1]['file']} could not be used ({type(exc).__name__}: {exc}); "
    images, described = calibration_patches(card, refit=REFIT_PATCHES)
    if images is None:
        return None, None, why + described, False
    calib = torch.cat(list(mosaic_windows(images[:CALIBRATION_PATCHES], patch // 2)))  # straddling patches
    probe_patches = images[CALIBRATION_PATCHES : CALIBRATION_PATCHES + PROBE_PATCHES]
    quantized = quantize(eager, calib)
    _, refitted = refit_classifier(quantized, eager, images[CALIBRATION_PATCHES + PROBE_PATCHES :], probe_patches)
    why += f"calibrated on the {len(calib)} windows (stride {patch // 2}) of a mosaic of {described}"
    why += "; classifier refitted" if refitted else "; classifier refit not kept (not closer to fp32)"
    return quantized, torch.from_numpy(probe_patches).clone(), why, False


def prepare(model, bands: int, patch: int):
    """``(callable, FastPathReport)``: the INT8 module (from the disk cache, else quantized and cached)
    when it passes the probe check, else the eager ``model`` with the reason (path "eager")."""
    from .fast_path import FastPathReport
    from .lazy_model import materialise

    t0 = time.perf_counter()

    def fallback(reason: str, note: Optional[str] = None, diff=None):
        return model, FastPathReport("eager", reason, time.perf_counter() - t0, diff, None, note)

    if ENGINE not in torch.backends.quantized.supported_engines:
        return fallback(f"this PyTorch build has no {ENGINE} quantized engine (INT8 path)")
    torch.backends.quantized.engine = ENGINE  # a loaded module's packed weights run on it
    key = int8_key(model, bands, patch)
    path = cache_path(key) if key is not None else None
    note = "no cached INT8 model yet" if path is not None else "not cached (a model handed in, or no cache folder)"
    try:
        module = None
        if path is not None and path.is_file():  # no eager network needed (nor timm imported)
            module, probe, reference = load(key, path)
            note = f"loaded {path}" if module is not None else probe
        shipped = bool(key and key.get("shipped"))
        if module is None:
            eager = materialise(model).eval()
            card = eager.card if eager.card is not None else model.card
            quantized, probe, described, built_shipped = build(eager, card, key, patch)
            if quantized is None:
                return fallback(f"INT8 path not available: {described}", note)
            module = freeze(quantized, probe)
            reference = probabilities(eager, probe)
            note += "; " + described
            if path is not None and built_shipped == shipped:  # never a calibrated model under a shipped key
                note += "; " + save(module, key, probe, reference, path)
            shipped = built_shipped
        module = Unoptimised(module).eval()
        stats = compare(module, reference, probe.float())
    except Exception as exc:  # quantization unsupported for this network or build: fp32
        return fallback(f"INT8 model could not be built ({type(exc).__name__}: {exc})", note)
    failure = check_failure(stats)
    if failure:
        return fallback(failure, note, stats["max"])
    reason = (
        f"CPU run: INT8 ({METHODS[shipped]}, {ENGINE} engine), "
        f"checked against fp32 on {probe.shape[0]} train patches: top-1 agreement {stats['agreement']:.1%}, "
        f"mean |softmax difference| {stats['mean']:.4f}"
    )
    return module, FastPathReport("int8", reason, time.perf_counter() - t0, stats["max"], None, note)


_verdicts: dict = {}  # (weights sha256 or id, bands, patch, threads) -> auto's measurement


def auto_verdict(model, int8, fp32, bands: int, patch: int) -> dict:
    """``auto``'s quick measurement (once per model, shape and thread count in a process): INT8 and the
    fp32 module on a batch of 64 random patches, best of 3 each, interleaved; ``int8_faster`` and a sentence."""
    from .graph_cache import _verified

    key = (_verified.get(model) or id(model), bands, patch, torch.get_num_threads())
    if key not in _verdicts:
        gen = torch.Generator().manual_seed(0)
        x = torch.randint(0, 256, (64, bands, patch, patch), generator=gen).float()
        w8 = max(windows_per_second(int8, x), windows_per_second(int8, x))
        w32 = max(windows_per_second(fp32, x), windows_per_second(fp32, x))
        _verdicts[key] = {
            "int8_faster": w8 > w32,
            "text": f"measured INT8 {w8:.0f} vs fp32 {w32:.0f} windows/s on a probe batch of 64",
        }
    return _verdicts[key]
