"""Pixel hashes of the sample's outputs, to show a refactor left the results unchanged.

Classifies sample_data/eurosat_mosaic_rgb.tif (RGB) and sample_data/sentinel2_13band.tif
(13-band) at strides 16, 32 and 64 with ``--fast-path on`` and ``off`` through the CLI
(``python -m eurosat_landcover classify``) and prints one line per run: the sha256 of the
classes raster's and the probabilities raster's pixel arrays (GDAL ``ReadAsArray``), so file
metadata (creation times, GDAL versions) does not change the figures. ``--map`` adds map mode
(``--mode map``, fast path on and off) on the RGB sample, on the RGB sample with a nodata corner,
and on the sample tiled to 4608 x 512 px (two panels, core/tiles.py), also with float32 probabilities.

    python scripts/output_hashes.py > hashes.txt   # before and after; the two files must match
    python scripts/output_hashes.py --map          # also map mode
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = {
    "rgb": ROOT / "sample_data" / "eurosat_mosaic_rgb.tif",
    "13band": ROOT / "sample_data" / "sentinel2_13band.tif",
}
STRIDES = (16, 32, 64)
FAST_PATHS = ("on", "off")


def pixel_sha256(path: Path) -> str:
    """sha256 of the raster's pixel array (all bands, as GDAL reads them), dtype and shape included."""
    from osgeo import gdal

    ds = gdal.Open(str(path))
    array = ds.ReadAsArray()
    digest = hashlib.sha256(f"{array.dtype}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def run_one(sample: Path, stride: int, fast_path: str, outdir: Path, extra=()) -> tuple[str, str]:
    """Classify ``sample`` through the CLI; the pixel hashes of its classes and probabilities rasters."""
    name = f"{sample.stem}_s{stride}_{fast_path}{'_'.join(('', *extra)).replace('-', '')}"
    cmd = [sys.executable, "-m", "eurosat_landcover", "classify", str(sample), str(outdir), *extra]
    if "--mode" not in extra:  # windows mode, as these hashes were first taken (map mode is the default now)
        cmd += ["--mode", "windows", "--stride", str(stride)]
    cmd += ["--fast-path", fast_path, "--name", name, "--quiet", "--threads", "1"]
    # cwd: a folder that holds no package, so nothing there shadows an installed module
    subprocess.run(cmd, check=True, cwd=outdir, stdout=subprocess.DEVNULL)
    return pixel_sha256(outdir / f"{name}_classes.tif"), pixel_sha256(outdir / f"{name}_probabilities.tif")


def map_inputs(folder: Path) -> dict:
    """The RGB sample, the sample with its top-left 300 x 200 px nodata (0), the sample tiled to 4608 x 512."""
    from osgeo import gdal

    src = gdal.Open(str(SAMPLES["rgb"]))
    pixels = src.ReadAsArray()
    out = {"rgb": SAMPLES["rgb"]}
    for label, array, nodata in (
        ("rgb_nodata", pixels.copy(), 0),
        ("rgb_wide", np.tile(pixels, (1, 1, 6)), None),
    ):
        if nodata is not None:
            array[:, :200, :300] = nodata
        path = folder / f"{label}.tif"
        ds = gdal.GetDriverByName("GTiff").Create(str(path), array.shape[2], array.shape[1], 3, gdal.GDT_Byte)
        ds.SetGeoTransform(src.GetGeoTransform())
        ds.SetProjection(src.GetProjection())
        for b in range(3):
            ds.GetRasterBand(b + 1).WriteArray(array[b])
            if nodata is not None:
                ds.GetRasterBand(b + 1).SetNoDataValue(nodata)
        ds = None
        out[label] = path
    return out


def map_hashes(tmp: Path) -> None:
    for label, sample in map_inputs(tmp).items():
        for fast_path in FAST_PATHS:
            extras = [("--mode", "map")] + ([("--mode", "map", "--float-probabilities")] if label == "rgb_wide" else [])
            for extra in extras:
                classes, probabilities = run_one(sample, 32, fast_path, tmp, extra)
                kind = " float32" if len(extra) > 2 else ""
                print(f"map {label}{kind} fast_path={fast_path} classes={classes} probabilities={probabilities}")
                sys.stdout.flush()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="output_hashes_") as tmp:
        if "--map" in sys.argv[1:]:
            map_hashes(Path(tmp))
        for label, sample in SAMPLES.items():
            for stride in STRIDES:
                for fast_path in FAST_PATHS:
                    classes, probabilities = run_one(sample, stride, fast_path, Path(tmp))
                    print(
                        f"{label} stride={stride} fast_path={fast_path} classes={classes} probabilities={probabilities}"
                    )
                    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
