"""Fixed costs: the weights' checksum remembered per file version (models/weights_memo.py),
and a run served by the disk-cached CPU graph imports no timm and gives the traced run's outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eurosat_landcover.models import weights_memo

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data" / "eurosat_mosaic_rgb.tif"


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(weights_memo.ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture()
def hashes(monkeypatch):
    """Counts the real hashing calls."""
    from eurosat_landcover.models import hashing

    calls = []
    real = hashing.sha256_file

    def counting(path):
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(hashing, "sha256_file", counting)
    return calls


def aged(path: Path, seconds_ago: float = 60.0) -> None:
    t = time.time() - seconds_ago
    os.utime(path, (t, t))


def test_checksum_remembered_until_size_or_mtime_change(cache, hashes, tmp_path):
    import hashlib

    f = tmp_path / "w.safetensors"
    f.write_bytes(b"a" * 1000)
    aged(f)
    want = hashlib.sha256(b"a" * 1000).hexdigest()
    assert weights_memo.file_sha256(f) == (want, False)
    assert weights_memo.file_sha256(f) == (want, True)
    assert len(hashes) == 1
    memo = json.loads((cache / weights_memo.MEMO_NAME).read_text())
    assert memo[str(f.resolve())]["sha256"] == want
    # same size, other bytes, another modification time: hashed again, never the remembered value
    f.write_bytes(b"b" * 1000)
    aged(f, 30)
    other = hashlib.sha256(b"b" * 1000).hexdigest()
    assert weights_memo.file_sha256(f) == (other, False)
    # another size
    f.write_bytes(b"b" * 999)
    aged(f, 20)
    assert weights_memo.file_sha256(f)[0] == hashlib.sha256(b"b" * 999).hexdigest()
    assert len(hashes) == 3
    # a memo entry whose identity differs from the file's is not trusted, whatever checksum it holds
    memo = json.loads((cache / weights_memo.MEMO_NAME).read_text())
    entry = memo[str(f.resolve())]
    entry["sha256"], entry["identity"][1] = "0" * 64, entry["identity"][1] + 1
    (cache / weights_memo.MEMO_NAME).write_text(json.dumps(memo))
    assert weights_memo.file_sha256(f)[0] == hashlib.sha256(b"b" * 999).hexdigest()


def test_a_file_just_written_is_not_remembered(cache, hashes, tmp_path):
    f = tmp_path / "fresh.bin"
    f.write_bytes(b"x" * 10)  # modified now: a write within the same timestamp tick could go unseen
    assert weights_memo.file_sha256(f)[1] is False
    assert weights_memo.file_sha256(f)[1] is False
    assert len(hashes) == 2


def test_no_cache_folder_hashes_every_time(monkeypatch, hashes, tmp_path):
    monkeypatch.setenv(weights_memo.ENV, "")
    f = tmp_path / "w.bin"
    f.write_bytes(b"z")
    aged(f)
    assert weights_memo.cache_dir() is None
    weights_memo.file_sha256(f)
    weights_memo.file_sha256(f)
    assert len(hashes) == 2


def test_wrong_weights_refused_even_when_the_run_would_be_lazy(tmp_path, monkeypatch, cache):
    """The weights are verified when the (lazy) model is made: the same one-line error as before."""
    import shutil

    torch = pytest.importorskip("torch")
    from eurosat_landcover.core.errors import ClassificationError
    from eurosat_landcover.core.stages.model import model_for, read_card
    from eurosat_landcover.models.checkpoint import default_card_path

    src = default_card_path()
    shutil.copy(src, tmp_path / src.name)
    w = tmp_path / src.with_suffix(".safetensors").name
    data = bytearray(src.with_suffix(".safetensors").read_bytes())
    data[-1] ^= 1
    w.write_bytes(bytes(data))
    card = read_card(tmp_path / src.name)
    with pytest.raises(ClassificationError, match=r"sha256 of .* but card .* expects"):
        model_for(card, torch.device("cpu"))


CHILD = r"""
import json, sys
from osgeo import gdal
from eurosat_landcover.core.pipeline import classify
from eurosat_landcover.core.request import ClassificationRequest
r = classify(ClassificationRequest(
    sys.argv[1], sys.argv[2], mode="windows", stride=32, device="cpu", fast_path=sys.argv[3]))
print("RESULT " + json.dumps({
    "fast_path": r.summary["fast_path"],
    "timm": "timm" in sys.modules,
    "torchvision": "torchvision" in sys.modules,
    "classes": gdal.Open(str(r.classes_path)).ReadAsArray().tolist(),
    "probs": gdal.Open(str(r.probabilities_path)).ReadAsArray().tolist(),
}))
"""


def run_child(raster: Path, out: Path, cache: Path, fast_path: str) -> dict:
    env = dict(os.environ, EUROSAT_LANDCOVER_CACHE_DIR=str(cache))
    p = subprocess.run(
        [sys.executable, "-c", CHILD, str(raster), str(out), fast_path], capture_output=True, text=True, env=env
    )
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise AssertionError(f"child failed ({p.returncode}): {p.stderr[-2000:]}")


@pytest.fixture(scope="module")
def small_raster(tmp_path_factory):
    from osgeo import gdal

    out = tmp_path_factory.mktemp("raster") / "small.tif"
    gdal.Translate(str(out), str(SAMPLE), srcWin=[0, 0, 192, 128])
    return out


def test_a_run_served_by_the_cached_graph_imports_no_timm(small_raster, tmp_path):
    import numpy as np

    cache = tmp_path / "cache"
    first = run_child(small_raster, tmp_path / "a", cache, "auto")  # a small run: traced once, cached
    if first["fast_path"]["path"] == "eager":
        pytest.skip(f"no CPU fast path on this machine: {first['fast_path']['reason']}")
    assert "traced and cached" in first["fast_path"]["graph_cache"]
    # a small run in auto mode takes the fast path once its graph is cached, and never builds the network
    second = run_child(small_raster, tmp_path / "b", cache, "auto")
    assert second["fast_path"]["graph_cache"].startswith("loaded"), second["fast_path"]
    assert second["fast_path"]["path"] == "torchscript+onednn"
    assert not second["timm"] and not second["torchvision"]
    assert first["classes"] == second["classes"]
    diff = np.abs(np.array(first["probs"], dtype=int) - np.array(second["probs"], dtype=int))
    assert diff.max() <= 1


IDLE_CHILD = """
import sys
from eurosat_landcover.core import pipeline
from eurosat_landcover.core.request import ClassificationRequest
real, seen = pipeline.cpu_sample, []
pipeline.cpu_sample = lambda: seen.append("torch" in sys.modules) or real()
r = pipeline.classify(ClassificationRequest(
    sys.argv[1], sys.argv[2], mode="windows", stride=64, device="cpu", fast_path="int8"))
print("RESULT", seen, r.summary["device"])
"""


def test_int8_samples_the_idle_cpus_from_before_torch_is_imported(small_raster, tmp_path):
    """An INT8 run without ``threads`` measures the idle CPUs over at least 0.1 s (models/devices.idle_cpu_threads):
    sampled from before a new process imports torch (~1 s), that costs no wait (up to 0.04 s before)."""
    env = dict(os.environ, EUROSAT_LANDCOVER_CACHE_DIR=str(tmp_path / "cache"))
    env["EUROSAT_LANDCOVER_CALIBRATION_DATA"] = str(tmp_path / "absent.zip")  # the shipped INT8 model needs no data
    cmd = [sys.executable, "-c", IDLE_CHILD, str(small_raster), str(tmp_path / "out")]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    result = [line for line in p.stdout.splitlines() if line.startswith("RESULT ")]
    assert result, p.stderr[-2000:]
    assert result[0].startswith("RESULT [False] cpu"), result[0]  # one sample, taken while torch was not imported
