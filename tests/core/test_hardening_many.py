"""Issue 27, classify-many: odd numbers, odd scheduler addresses, peers that are not a Dask scheduler
(silent, HTTP, a closed port), and --overwrite replacing an output set as a whole or not at all.

Every refusal comes before anything is written: exit code 2, one line, the output folder not even
created. The replacement tests run a real LocalCluster (one worker process) on the bundled sample."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from eurosat_landcover import cli
from eurosat_landcover.core.errors import ClassificationCancelled
from eurosat_landcover.core.scaleout import address
from hardening_testlib import ROOT, assert_folder, one_error_line, small_rgb, snapshot

distributed = pytest.importorskip("distributed")

from eurosat_landcover.core.scaleout.run import classify_many  # noqa: E402

SAMPLE = ROOT / "sample_data" / "eurosat_mosaic_rgb.tif"


def _many_error(capsys, tmp_path, *args) -> str:
    src = tmp_path / "in.tif"
    if not src.exists():
        small_rgb(src)
    before = snapshot(tmp_path)
    rc = cli.main(["classify-many", str(src), str(tmp_path / "out"), *map(str, args), "--quiet", "--device", "cpu"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "", (rc, err)
    line = one_error_line(err)
    assert line.startswith("error: ") and "Traceback" not in err and "run with --debug" not in line, line
    assert_folder(tmp_path, before)
    assert not (tmp_path / "out").exists()
    return line


ARGS = {
    "workers-zero": (["--workers", "0"], "--workers must be a whole number from 1 to 1024, got 0"),
    "workers-negative": (["--workers", "-2"], "--workers must be a whole number from 1 to 1024, got -2"),
    "workers-huge": (["--workers", "100000"], "--workers must be a whole number from 1 to 1024, got 100000"),
    "block-zero": (["--block-size", "0"], "--block-size must be a whole number from 128 to"),
    "block-negative": (["--block-size", "-4096"], "--block-size must be a whole number from 128 to"),
    "block-huge": (["--block-size", "1000000000"], "--block-size must be a whole number from 128 to"),
    "retries-negative": (["--retries", "-1"], "--retries must be a whole number from 0 to 100, got -1"),
    "retries-huge": (["--retries", "1000"], "--retries must be a whole number from 0 to 100, got 1000"),
    "stride-odd": (["--stride", "7"], "stride"),
    "batch-zero": (["--batch-size", "0"], "batch size must be between 1 and"),
    "threads-zero": (["--threads", "0"], "threads must be a whole number from 1 to"),
    "bounds-nan": (["--bounds", "0", "0", "nan", "1"], "bounds must be four finite numbers"),
    "bounds-inf": (["--bounds", "0", "0", "inf", "1"], "bounds must be four finite numbers"),
    "max-pixels-negative": (["--max-pixels", "-1"], "max_pixels must be a whole number of pixels"),
    "bands-zero": (["--bands", "0", "1", "2"], "bands must be whole band numbers from 1"),
    "scheduler-no-host": (["--scheduler", "tcp://"], "--scheduler takes 'local' or a Dask scheduler address"),
    "scheduler-no-port": (["--scheduler", "tcp://host"], "--scheduler takes 'local' or a Dask scheduler address"),
    "scheduler-port-zero": (["--scheduler", "tcp://h:0"], "--scheduler takes 'local' or a Dask scheduler address"),
    "scheduler-port-big": (["--scheduler", "tcp://h:70000"], "--scheduler takes 'local' or a Dask scheduler"),
    "scheduler-http": (["--scheduler", "http://h:8786"], "--scheduler takes 'local' or a Dask scheduler address"),
    "scheduler-port-text": (["--scheduler", "h:port"], "--scheduler takes 'local' or a Dask scheduler address"),
    "scheduler-path": (["--scheduler", "tcp://h:8786/x"], "--scheduler takes 'local' or a Dask scheduler address"),
}


@pytest.mark.parametrize("kind", sorted(ARGS))
def test_odd_job_options_are_refused_before_anything_is_written(tmp_path, capsys, kind):
    args, message = ARGS[kind]
    line = _many_error(capsys, tmp_path, *args)
    assert message in line, line


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "gone.tif", "the input"),
        (lambda d: (d / "empty").mkdir() or d / "empty", "holds no raster"),
        (lambda d: (d / "list.txt").write_text("nope.tif\n") and d / "list.txt", "lists 1 missing file(s)"),
        (lambda d: str(d / "*.nothing"), "no file matches"),
    ],
)
def test_odd_inputs_are_refused_before_anything_is_written(tmp_path, capsys, make, message):
    item = make(tmp_path)
    before = snapshot(tmp_path)
    rc = cli.main(["classify-many", str(item), str(tmp_path / "out"), "--quiet"])
    _out, err = capsys.readouterr()
    assert rc == 2 and message in one_error_line(err), err
    assert_folder(tmp_path, before)


# ------------------------------------------------------------------ 8. peers that are not a Dask scheduler
def _server(answer: bytes | None):
    """A TCP server on 127.0.0.1 that accepts and sends ``answer`` (None: never says anything)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []

    server.settimeout(0.2)  # a blocking accept would outlive close()

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            held.append(conn)
            if answer is not None:
                conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


@pytest.mark.parametrize(
    "answer, message",
    [
        (None, "accepted the connection but sent nothing within 1 s: it is not a Dask scheduler"),
        (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "answered, but not as a Dask scheduler"),
        (b"SSH-2.0-OpenSSH_9.2\r\n", "answered, but not as a Dask scheduler"),
        (b"\x08\x00\x00\x00\x00\x00\x00\x00garbage!", "answered, but not as a Dask scheduler"),
    ],
    ids=["silent", "http", "ssh", "framed-garbage"],
)
def test_a_peer_that_is_not_a_scheduler_fails_fast(tmp_path, capsys, monkeypatch, answer, message):
    """A server that answered but was not Dask hung the client for over 12 minutes, or gave a
    multi-exabyte MemoryError (the first 8 bytes of an HTTP answer read as a frame length)."""
    monkeypatch.setattr(address, "HANDSHAKE_TIMEOUT_S", 1.0)
    server, port = _server(answer)
    t0 = time.monotonic()
    try:
        line = _many_error(capsys, tmp_path, "--scheduler", f"tcp://127.0.0.1:{port}")
    finally:
        server.close()
    assert time.monotonic() - t0 < 15
    assert line == f"error: tcp://127.0.0.1:{port} {message}" + (
        " (start one with `dask scheduler`, or check the address and port)"
        if answer is None
        else ": check the address and port (a scheduler listens on 8786 by default)"
    )


def test_a_closed_port_is_one_line(tmp_path, capsys):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    line = _many_error(capsys, tmp_path, "--scheduler", f"tcp://127.0.0.1:{port}")
    assert line == f"error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}: Connection refused"


# ------------------------------------------------------------------ 8. --overwrite: a whole set, or nothing
@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
    ) as c:
        yield c


def _names(out: Path) -> set:
    return {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}


def test_overwrite_replaces_the_whole_set_or_restores_the_old_one(cluster, tmp_path):
    from osgeo import gdal

    src = tmp_path / "scene.tif"  # a 384 x 256 px corner of the bundled sample: 6 blocks, then 2
    gdal.Translate(str(src), str(SAMPLE), srcWin=[0, 0, 384, 256]).FlushCache()
    out = tmp_path / "out"
    first = classify_many(
        [str(src)], out, {"mode": "windows", "stride": 64}, scheduler=cluster.scheduler_address, block_size=128
    )
    assert first["rasters"]["scene"]["blocks"] == 6
    old = snapshot(out)
    assert any(n.endswith("_probabilities.vrt") for n in old)

    # other options, stopped after the first block: the old set comes back as it was
    with pytest.raises(ClassificationCancelled):
        classify_many(
            [str(src)],
            out,
            {"mode": "windows", "stride": 64, "write_probabilities": False, "overwrite": True},
            scheduler=cluster.scheduler_address,
            block_size=256,
            is_cancelled=lambda: True,
        )
    assert snapshot(out) == old

    # the same, to the end: only the new set is left (no old probabilities VRT, no old tiles or markers)
    new = classify_many(
        [str(src)],
        out,
        {"mode": "windows", "stride": 64, "write_probabilities": False, "overwrite": True},
        scheduler=cluster.scheduler_address,
        block_size=256,
    )
    raster = new["rasters"]["scene"]
    assert raster["blocks"] == 2
    names = _names(out)
    assert not [n for n in names if "probabilities" in n], names
    tiles = {n for n in names if n.startswith("scene_blocks/")}
    assert len(tiles) == 2 * raster["blocks"], sorted(tiles)
    markers = {n for n in names if n.startswith(".classify-many/")}
    assert len(markers) == raster["blocks"], sorted(markers)
    assert not [n for n in names if "partial" in n or "replaced-" in n]
