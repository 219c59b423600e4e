"""Messages and hostile inputs: one clear line (no GDAL/PROJ "ERROR n" noise, no raw Python
errors) with exit code 2 and the folder untouched, for odd arguments, odd cards, special files,
broken or recursive VRTs and a silent network server; API arguments of the wrong type are refused
like the CLI's parser refuses them."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time

import pytest
from engine_testlib import BrightnessModel, make_card
from eurosat_landcover import cli
from eurosat_landcover.core import georef
from eurosat_landcover.core.errors import ClassificationError
from eurosat_landcover.core.pipeline import classify
from eurosat_landcover.core.request import ClassificationRequest
from eurosat_landcover.models.checkpoint import default_card_path
from hardening_testlib import assert_folder, one_error_line, small_rgb, snapshot


def _cli_error(capsys, tmp_path, *args) -> str:
    """Run the CLI into tmp_path/out; assert exit 2, nothing on stdout, the folder unchanged; -> the line."""
    before = snapshot(tmp_path)
    rc = cli.main(["classify", *map(str, args), "--device", "cpu", "--quiet"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "", err
    line = one_error_line(err)
    assert line.startswith("error: ") and "Traceback" not in err and "ERROR " not in err
    assert_folder(tmp_path, before)
    return line


# ---------------------------------------------------------------------- 8. one line, no GDAL noise
def test_unknown_bounds_crs_is_one_line(tmp_path, capsys):
    src = small_rgb(tmp_path / "in.tif")
    line = _cli_error(
        capsys, tmp_path, src, tmp_path / "out", "--bounds", "0", "0", "1", "1", "--bounds-crs", "EPSG:999999"
    )
    assert line == "error: unknown coordinate reference system 'EPSG:999999'"


def test_a_300_character_name_is_one_line(tmp_path, capsys):
    src = small_rgb(tmp_path / "in.tif")
    line = _cli_error(capsys, tmp_path, src, tmp_path / "out", "--name", "n" * 300)
    assert line.startswith("error: output name is too long (300 characters): file names are limited to 255 bytes")


def test_a_folder_given_as_model_card(tmp_path, capsys):
    src = small_rgb(tmp_path / "in.tif")
    (tmp_path / "models").mkdir()
    line = _cli_error(capsys, tmp_path, src, tmp_path / "out", "--model", tmp_path / "models")
    assert line == (
        f"error: the model card {tmp_path / 'models'} is a folder: give the card's .json file "
        "(it lies beside its .safetensors weights)"
    )


def _nested(depth):
    return "[" * depth + "]" * depth


ODD_CARDS = {
    "deeply-nested-json": lambda d: _nested(100000),
    "top-level-list": lambda d: "[1, 2, 3]",
    "classes-not-a-list": lambda d: json.dumps({**d, "classes": "AnnualCrop"}),
    "class-without-colour": lambda d: json.dumps({**d, "classes": [{"name": "x"}]}),
    "bands-a-string": lambda d: json.dumps({**d, "bands": "RGB"}),
    "mean-of-strings": lambda d: json.dumps({**d, "mean": ["a", "b", "c"]}),
    "gsd-true": lambda d: json.dumps({**d, "gsd_m": True}),
    "patch-huge": lambda d: json.dumps({**d, "patch_size": 10**12}),
    "patch-float": lambda d: json.dumps({**d, "patch_size": 64.5}),
    "metrics-a-list": lambda d: json.dumps({**d, "metrics": [1, 2]}),
    "weights-path-traversal": lambda d: json.dumps({**d, "weights": "../../etc/passwd"}),
    "unknown-architecture": lambda d: json.dumps({**d, "architecture": "no_such_net"}),
    "name-null": lambda d: json.dumps({**d, "name": None}),
    "not-utf8": lambda d: b"\xff\xfe\x00garbage",
    # issue 27: fields that were not checked
    "band-named-twice": lambda d: json.dumps({**d, "bands": ["B04", "B04", "B02"]}),
    "band-roles-text": lambda d: json.dumps({**d, "band_roles": "rgb"}),
    "title-an-object": lambda d: json.dumps({**d, "title": {"en": "x"}}),
    "gsd-astronomical": lambda d: json.dumps({**d, "gsd_m": 1e300}),
    "gsd-microscopic": lambda d: json.dumps({**d, "gsd_m": 1e-9}),
}


@pytest.mark.parametrize("kind", sorted(ODD_CARDS))
def test_odd_cards_are_one_clear_line(tmp_path, capsys, kind):
    src = small_rgb(tmp_path / "in.tif")
    data = json.loads(default_card_path().read_text())
    card = tmp_path / "odd.json"
    text = ODD_CARDS[kind](data)
    card.write_bytes(text if isinstance(text, bytes) else text.encode())
    shutil.copy(default_card_path().with_suffix(".safetensors"), tmp_path / data["weights"])
    line = _cli_error(capsys, tmp_path, src, tmp_path / "out", "--model", card)
    assert "model" in line or "card" in line, line
    for raw in ("IndexError", "RecursionError", "AttributeError", "TypeError", "KeyError", "run with --debug"):
        assert raw not in line, line


# ---------------------------------------------------------------------- 9. API argument types
BAD_ARGS = {
    "stride-float": ({"stride": 32.7}, "stride must be a whole number of pixels (8, 16, 32 or 64), got 32.7"),
    "bands-float": ({"bands": [1.9, 2, 3]}, "bands must be whole band numbers from 1, got [1.9, 2, 3]"),
    "bands-zero": ({"bands": [0, 1, 2]}, "bands must be whole band numbers from 1, got [0, 1, 2]"),
    "bands-string": ({"bands": "321"}, "bands must be a list of 1-based band numbers, e.g. [4, 3, 2], got '321'"),
    "device-int": ({"device": 5}, "device must be a string, got 5"),
    "batch-str": ({"batch_size": "64"}, "batch_size must be a whole number, got '64'"),
    "threads-float": ({"threads": 2.5}, "threads must be a whole number from 1 to"),
    "overwrite-str": ({"overwrite": "yes"}, "overwrite must be True or False, got 'yes'"),
    "bounds-three": ({"bounds": [1, 2, 3]}, "bounds must be four numbers xmin, ymin, xmax, ymax, got [1, 2, 3]"),
    "bounds-nan": ({"bounds": [0, 0, float("nan"), 1]}, "bounds must be four finite numbers"),
    "name-int": ({"name": 7}, "name must be a string (the output file prefix) or None, got 7"),
    "max-pixels-negative": ({"max_pixels": -1}, "max_pixels must be a whole number of pixels (0: no limit)"),
}


@pytest.mark.parametrize("kind", sorted(BAD_ARGS))
def test_api_arguments_of_the_wrong_type(tmp_path, kind):
    src = small_rgb(tmp_path / "in.tif")
    over, message = BAD_ARGS[kind]
    before = snapshot(tmp_path)
    with pytest.raises(ClassificationError) as info:
        classify(
            ClassificationRequest(src, tmp_path / "out", mode="windows", **over), model=(BrightnessModel(), make_card())
        )
    assert str(info.value).startswith(message)
    assert_folder(tmp_path, before)


@pytest.mark.parametrize(
    "inp, out, message",
    [
        (None, "OUT", "the input raster (input_path) must be a non-empty path, got None"),
        ("IN", "", "the output folder (output_dir) must be a non-empty path, got ''"),
        ("IN", None, "the output folder (output_dir) must be a non-empty path, got None"),
    ],
)
def test_api_missing_paths(tmp_path, inp, out, message):
    src = small_rgb(tmp_path / "in.tif")
    inp = src if inp == "IN" else inp
    out = tmp_path / "out" if out == "OUT" else out
    before = snapshot(tmp_path)
    cwd = os.getcwd()
    os.chdir(tmp_path)  # an empty output path must not mean "the current folder"
    try:
        with pytest.raises(ClassificationError, match=f"^{message.replace('(', '.').replace(')', '.')}$"):
            classify(ClassificationRequest(inp, out, mode="windows"), model=(BrightnessModel(), make_card()))
    finally:
        os.chdir(cwd)
    assert_folder(tmp_path, before)


# ---------------------------------------------------------------------- hostile inputs: fail fast and clearly
def test_a_named_pipe_is_refused_without_blocking(tmp_path, capsys):
    fifo = tmp_path / "pipe.tif"
    os.mkfifo(fifo)

    def unblock():  # only if the engine opened the pipe (the bug): lets the test end and fail
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass

    t = threading.Timer(20, unblock)
    t.start()
    t0 = time.monotonic()
    try:
        line = _cli_error(capsys, tmp_path, fifo, tmp_path / "out")
    finally:
        t.cancel()
    assert time.monotonic() - t0 < 15
    assert line == f"error: {fifo} is not a regular file (a pipe, device or socket): give a raster file"


def test_a_device_is_refused(tmp_path, capsys):
    line = _cli_error(capsys, tmp_path, "/dev/zero", tmp_path / "out")
    assert line == "error: /dev/zero is not a regular file (a pipe, device or socket): give a raster file"


def test_recursive_and_broken_vrts(tmp_path, capsys):
    from osgeo import gdal

    src = small_rgb(tmp_path / "in.tif")
    gdal.BuildVRT(str(tmp_path / "broken.vrt"), [str(src)]).FlushCache()
    text = (tmp_path / "broken.vrt").read_text()
    (tmp_path / "self.vrt").write_text(text.replace(str(src), str(tmp_path / "self.vrt")).replace("in.tif", "self.vrt"))
    src.rename(tmp_path / "moved.tif")  # broken.vrt now points at a missing file
    t0 = time.monotonic()
    line = _cli_error(capsys, tmp_path, tmp_path / "self.vrt", tmp_path / "out")
    assert line.startswith("error: ") and "self.vrt" in line
    line = _cli_error(capsys, tmp_path, tmp_path / "broken.vrt", tmp_path / "out")
    assert line.startswith("error: ") and "in.tif" in line
    assert time.monotonic() - t0 < 30


def test_a_silent_network_server_fails_fast(tmp_path, capsys, monkeypatch):
    """A server that accepts the connection and never answers: GDAL's HTTP reads have no time limit
    of their own; the engine bounds them (here lowered to 2 s to keep the test short)."""
    from osgeo import gdal

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    monkeypatch.setattr(
        georef,
        "NETWORK_TIMEOUTS",
        {"GDAL_HTTP_CONNECTTIMEOUT": "2", "GDAL_HTTP_TIMEOUT": "2", "GDAL_HTTP_MAX_RETRY": "0"},
    )
    t0 = time.monotonic()
    try:
        line = _cli_error(capsys, tmp_path, f"/vsicurl/http://127.0.0.1:{port}/scene.tif", tmp_path / "out")
    finally:
        server.close()
        for key in georef.NETWORK_TIMEOUTS:
            gdal.SetConfigOption(key, None)
    assert time.monotonic() - t0 < 20
    assert line.startswith(f"error: cannot open /vsicurl/http://127.0.0.1:{port}/scene.tif as a raster")
