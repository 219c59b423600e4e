#!/usr/bin/env python3
"""The plugin next to its closest peer, Deepness (QGIS plugin, ONNX models through onnxruntime), on the
same machine in one run (issue 26). Prints figures, asserts nothing.

    PEER_SITE=/tmp/peer DEEPNESS=/tmp/deepness \\
        nice -n 10 .venv/bin/python benchmarks/bench_peer.py [--sizes 2048:64 2048:32 4096:64 4096:32]
        [--repeats 1] [--fast-path auto] [--plugin-threads engine 2] [--markdown FILE]

Setup (not in the plugin's environment): ``pip install --target $PEER_SITE --no-deps onnxruntime==1.17.0
opencv-python-headless==4.9.0.80 flatbuffers coloredlogs humanfriendly protobuf onnx==1.16.2`` (Deepness
0.6.5 pins onnxruntime <= 1.17 and numpy < 2; onnx only exports the model), and Deepness's source
(github.com/PUTvision/qgis-plugin-deepness: its ``src`` and ``test`` folders) in ``$DEEPNESS``.

Both run the bundled EfficientNet-Lite0 on the same 64 px windows of the same raster (a VRT mosaic
of the sample tile, benchmarks/bench_engine.make_mosaic_vrt), batch 64, each in a fresh process:
- plugin: ``classify()`` (what the CLI and Processing call), on a disk cache primed once (its fp32
  graph and, on a VNNI CPU with ``auto``/``int8``, the INT8 model), as a user's second run sees it;
- peer: the bundled model exported to ONNX (softmax, the window's probabilities broadcast over the
  64 x 64 tile, so Deepness's segmentation mode maps windows like the plugin's stride mode), run the
  way Deepness's own tests run a model headless (test/test_utils.init_qgis, ``Segmentor``,
  ``MapProcessorSegmentation(...).run()`` with a mocked map canvas): tile size 64, overlap 64 - stride,
  no median filter, no probability threshold. Its call includes Deepness's vectorisation of the map
  (contours to polygons, part of every Deepness segmentation run).
"call": model load + the whole run in seconds (best of ``--repeats``), the runtime's import included (the plugin's
``import torch``, which ``classify()`` does on its first call, and Deepness's lazy ``import onnxruntime``): "of
which import torch" gives the plugin's share; ``--warm``: a second call in the same process ("warm call": QGIS's
next press of Run; the plugin's model, INT8 module and torch already loaded, Deepness's ONNX session kept, as its
dock keeps the loaded model); "process": spawn to exit;
"RSS": the process's peak resident memory; "plugin threads": what the request asked ("engine": no ``threads``,
the engine's choice: INT8 takes the CPUs idle, core/stages/model.py) and what the run's summary says it ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TILE = 64


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_torch_import() -> dict:
    """``{"seconds": ...}``, filled in when the next ``import torch`` (wherever it is) has run: the outermost
    ``__import__("torch")`` timed, the hook removed as soon as it returns."""
    import builtins

    real, spent = builtins.__import__, {"seconds": 0.0}

    def timed(name, *a, **k):
        if name != "torch" or "torch" in sys.modules:
            return real(name, *a, **k)
        builtins.__import__ = real
        t = time.perf_counter()
        try:
            return real(name, *a, **k)
        finally:
            spent["seconds"] = time.perf_counter() - t

    builtins.__import__ = timed
    return spent


def plugin_child(vrt: str, out: str, stride: int, fast_path: str, threads: str = "engine", warm: str = "") -> dict:
    t0 = time.perf_counter()
    from eurosat_landcover.core.pipeline import classify
    from eurosat_landcover.core.request import ClassificationRequest

    torch_import = time_torch_import()  # classify() imports torch on its first call, inside the call
    t1 = time.perf_counter()
    n = None if threads == "engine" else int(threads)

    def request(folder):
        return ClassificationRequest(
            Path(vrt),
            Path(folder),
            stride=stride,
            batch_size=64,
            device="cpu",
            fast_path=fast_path,
            threads=n,
            mode="windows",
        )

    res = classify(request(out))
    call = time.perf_counter() - t1
    warm_call = None
    if warm:
        t2 = time.perf_counter()
        classify(request(out + "_warm"))
        warm_call = time.perf_counter() - t2
    fp = res.summary["fast_path"]
    threads = f"{threads}: {res.summary['device'].split('(')[-1].split()[0]}"  # asked: ran on
    return {
        "imports": t1 - t0,
        "call": call,
        "torch_import": torch_import["seconds"],
        "warm_call": warm_call,
        "windows": res.windows,
        "path": fp["path"],
        "reason": fp["reason"],
        "threads": threads,
    }


def peer_child(vrt: str, onnx_path: str, stride: int, warm: str = "") -> dict:
    deepness = Path(os.environ["DEEPNESS"])
    sys.path[:0] = [str(deepness), str(deepness / "src")]  # its tests import ``test.test_utils``
    sys.path.append(os.environ["PEER_SITE"])  # after the venv: its numpy stays the venv's
    t0 = time.perf_counter()
    import deepness.processing.map_processor.map_processor_segmentation  # imported before the clock, as before
    from deepness.processing.models.segmentor import Segmentor
    from qgis.core import QgsProject, QgsRasterLayer
    from test.test_utils import init_qgis

    init_qgis()
    t1 = time.perf_counter()
    rlayer = QgsRasterLayer(vrt, "raster")
    QgsProject.instance().addMapLayer(rlayer)
    model = Segmentor(onnx_path)
    mp = _peer_run(rlayer, model, stride)
    call = time.perf_counter() - t1
    warm_call = None
    if warm:  # the same model (ONNX session), as Deepness's dock keeps it between runs
        t2 = time.perf_counter()
        _peer_run(rlayer, model, stride)
        warm_call = time.perf_counter() - t2
    import onnxruntime

    path = f"onnxruntime {onnxruntime.__version__} {','.join(model.sess.get_providers())}"
    windows = mp.x_bins_number * mp.y_bins_number
    return {"imports": t1 - t0, "call": call, "warm_call": warm_call, "windows": windows, "path": path}


def _peer_run(rlayer, model, stride: int):
    """One Deepness segmentation run of ``rlayer`` with ``model``, as its tests run one; -> the map processor."""
    from unittest.mock import MagicMock

    from deepness.common.processing_overlap import ProcessingOverlap, ProcessingOverlapOptions
    from deepness.common.processing_parameters.map_processing_parameters import ProcessedAreaType
    from deepness.common.processing_parameters.segmentation_parameters import SegmentationParameters
    from deepness.processing.map_processor.map_processing_result import MapProcessingResultSuccess
    from deepness.processing.map_processor.map_processor_segmentation import MapProcessorSegmentation
    from test.test_utils import create_default_input_channels_mapping_for_rgb_bands

    params = SegmentationParameters(
        resolution_cm_per_px=1000,  # the raster's 10 m
        tile_size_px=TILE,
        batch_size=64,
        local_cache=False,
        processed_area_type=ProcessedAreaType.ENTIRE_LAYER,
        mask_layer_id=None,
        input_layer_id=rlayer.id(),
        input_channels_mapping=create_default_input_channels_mapping_for_rgb_bands(),
        postprocessing_dilate_erode_size=0,
        processing_overlap=ProcessingOverlap(ProcessingOverlapOptions.OVERLAP_IN_PIXELS, overlap_px=TILE - stride),
        pixel_classification__probability_threshold=0.0,
        model=model,
    )
    mp = MapProcessorSegmentation(rlayer=rlayer, vlayer_mask=None, map_canvas=MagicMock(), params=params)
    mp.run()
    result = mp._processing_result
    if not isinstance(result, MapProcessingResultSuccess):
        raise SystemExit(f"Deepness failed: {result.message} {getattr(result, 'exception', '')}")
    return mp


def export_onnx(path: Path) -> None:
    """The bundled classifier as Deepness takes a segmentation model: 0-1 input, N x 10 x 64 x 64 output."""
    sys.path.append(os.environ["PEER_SITE"])  # onnx, for torch's exporter
    import torch
    from eurosat_landcover.models import model_cache
    from eurosat_landcover.models.checkpoint import default_card_path
    from eurosat_landcover.models.lazy_model import materialise

    model = materialise(model_cache.cached_model(default_card_path(), "cpu")[0]).eval()

    class AsSegmentation(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            p = torch.softmax(self.net(x * 255.0), dim=1)
            return p[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])

    dyn = {"input": {0: "batch"}, "output": {0: "batch"}}
    x = torch.rand(2, 3, TILE, TILE)
    torch.onnx.export(
        AsSegmentation(model), (x,), str(path), input_names=["input"], output_names=["output"], dynamic_axes=dyn,
        opset_version=17, dynamo=False,
    )  # fmt: skip


def run_child(kind: str, argv: list[str], env: dict) -> dict:
    from bench_int8 import child_result

    t0 = time.time()
    result = child_result(Path(__file__).resolve(), [kind, *argv], env, f"{kind} child")
    return dict(result, process=time.time() - t0)


def header(warm: bool) -> str:
    """The table's two header lines (the warm columns with ``--warm``)."""
    head = ["raster, stride", "windows", "plugin call s", "of which import torch s", "peer call s", "call ratio"]
    head += ["plugin warm call s", "peer warm call s", "warm ratio"] if warm else []
    head += ["plugin process s", "peer process s", "plugin RSS MB", "peer RSS MB", "plugin path", "plugin threads"]
    return "| " + " | ".join([*head, "load avg"]) + " |\n|---|" + "---:|" * (len(head) - 3) + "---|---|---:|"


def row(size: int, stride: int, pl: dict, pe: dict, warm: bool) -> str:
    """One table line: the plugin's best run (``pl``) beside the peer's (``pe``)."""
    cells = [f"{size}², {stride}", f"{pl['windows']:,}", f"{pl['call']:.2f}", f"{pl['torch_import']:.2f}"]
    cells += [f"{pe['call']:.2f}", f"{pe['call'] / pl['call']:.2f} x"]
    if warm:
        cells += [f"{pl['warm_call']:.2f}", f"{pe['warm_call']:.2f}", f"{pe['warm_call'] / pl['warm_call']:.2f} x"]
    cells += [f"{pl['process']:.2f}", f"{pe['process']:.2f}", f"{pl['rss']:.0f}", f"{pe['rss']:.0f}", pl["path"]]
    return "| " + " | ".join([*cells, pl["threads"], f"{os.getloadavg()[0]:.1f}"]) + " |"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["2048:64", "2048:32", "4096:64", "4096:32"])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--fast-path", default="auto", choices=("auto", "on", "off", "int8"))
    ap.add_argument(
        "--plugin-threads",
        nargs="+",
        default=["engine"],
        help="the plugin request's threads: 'engine' (none set: the engine's choice) or N; several: a row each",
    )
    ap.add_argument("--warm", action="store_true", help="also a second call in each process (QGIS's next Run)")
    ap.add_argument("--markdown")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "export":
            export_onnx(Path(rest[0]))
            r = {}
        elif kind == "plugin":
            r = plugin_child(rest[0], rest[1], int(rest[2]), *rest[3:])
        else:
            r = peer_child(rest[0], rest[1], int(rest[2]), *rest[3:])
        print("RESULT " + json.dumps(dict(r, rss=peak_mb())), flush=True)
        return 0
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_engine import make_mosaic_vrt
    from bench_int8 import cpu_line

    lines: list[str] = []

    def say(s: str = "") -> None:
        print(s, flush=True)
        lines.append(s)

    env = dict(os.environ, PYTHONPATH=str(ROOT.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    say(f"CPU: {cpu_line()}; load average at start {os.getloadavg()[0]:.1f}; fast_path={args.fast_path}")
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as d:
        d = Path(d)
        env["EUROSAT_LANDCOVER_CACHE_DIR"] = str(d / "cache")
        onnx_path = d / "lite0_deepness.onnx"
        run_child("export", [str(onnx_path)], env)
        prime = make_mosaic_vrt(d / "prime.vrt", 512)
        first = run_child("plugin", [str(prime), str(d / "prime"), "64", args.fast_path], env)
        say(f"plugin cache primed: {first['path']}: {first['reason']}")
        say()
        warm = ["warm"] if args.warm else []
        say(header(args.warm))
        peer_path = ""
        for spec in args.sizes:
            size, stride = (int(v) for v in spec.split(":"))
            vrt = str(make_mosaic_vrt(d / f"mosaic_{size}.vrt", size))
            best: dict = {}
            for i in range(args.repeats):  # interleaved: plugin (each threads setting), peer, plugin, peer, ...
                runs = {
                    t: run_child(
                        "plugin", [vrt, str(d / f"out_{spec}_{i}_{t}"), str(stride), args.fast_path, t, *warm], env
                    )
                    for t in args.plugin_threads
                }
                runs["peer"] = run_child("peer", [vrt, str(onnx_path), str(stride), *warm], env)
                for k, r in runs.items():
                    warmest = min(r["warm_call"] or 0.0, (best.get(k) or r)["warm_call"] or 0.0)
                    if k not in best or r["call"] < best[k]["call"]:
                        best[k] = r
                    best[k] = dict(best[k], warm_call=warmest)  # best of the repeats, each figure on its own
            pe = best["peer"]
            peer_path = pe["path"]
            for t in args.plugin_threads:
                pl = best[t]
                if pl["windows"] != pe["windows"]:
                    say(f"(windows differ: plugin {pl['windows']}, peer {pe['windows']})")
                say(row(size, stride, pl, pe, args.warm))
    say()
    say(f"peer: Deepness {os.environ.get('DEEPNESS')} with {peer_path}; ratios = peer / plugin")
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
