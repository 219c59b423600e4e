"""``python -m eurosat_landcover export RUN_SUMMARY.json OUTDIR --what raster,polygons,report,map [...]``.

Progress on stderr, a JSON account of what was written on stdout. ``map`` (the print layout to
PDF + PNG) needs QGIS: it runs through ``qgis_bridge.print_layout`` in a headless QgsApplication
when the ``qgis`` module can be imported, and is otherwise skipped with one line saying so.
"""

from __future__ import annotations

import argparse
import json
import sys

from .common import Command, ProgressBar

MAX_MMU_HA = 1e7  # 100,000 km²: beyond any map this tool makes
DESCRIPTION = "export a run: styled rasters, polygons, an area report and a print-ready map"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..core.export.formats import CORE_WHAT, ORIENTATION_IDS, WHAT, format_ids

    p.add_argument("source", help="the run's *_summary.json (or a class raster written by the plugin)")
    p.add_argument("outdir", help="output folder (created if missing)")
    p.add_argument(
        "--what",
        default=",".join(CORE_WHAT),
        help=f"comma-separated: {', '.join(WHAT)} (default {','.join(CORE_WHAT)})",
    )
    raster, vector = format_ids("raster"), format_ids("polygons")
    p.add_argument("--format", dest="raster_format", choices=raster, default=raster[0], help="raster format")
    p.add_argument("--no-probabilities", action="store_true", help="export the class and confidence rasters only")
    p.add_argument("--mmu-ha", type=float, default=0.0, metavar="HA", help="minimum mapping unit in hectares (sieve)")
    p.add_argument("--dissolve", action="store_true", help="one multipolygon per class")
    p.add_argument("--vector-format", choices=vector, default=vector[0], help="polygon format")
    p.add_argument("--title", help="title of the map and report (default: 'Land cover — <run name>')")
    p.add_argument("--page-size", default="A4", help="map page size: A4, A3, A2, Letter... (default A4)")
    p.add_argument("--orientation", choices=ORIENTATION_IDS, default=ORIENTATION_IDS[0], help="map orientation")
    p.add_argument("--dpi", type=int, default=200, help="resolution of the map PNG (default 200)")
    p.add_argument("--overwrite", action="store_true", help="replace existing exports of the same name")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def qgis_available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("qgis") is not None and importlib.util.find_spec("qgis.core") is not None
    except (ImportError, ValueError):
        return False


def _map_options(args):
    """The map's options, checked (page size, orientation) in a headless QGIS before any file is written."""
    from ..qgis_bridge.print_layout import MapOptions, start_headless_qgis, validate_options

    start_headless_qgis()
    options = MapOptions(
        title=args.title, page_size=args.page_size, orientation=args.orientation, dpi=args.dpi, overwrite=args.overwrite
    )
    validate_options(options)
    return options


def run(args: argparse.Namespace) -> int:
    from ..core.export import CORE_WHAT, ExportOptions, export_run, load_run, parse_what
    from ..core.gdalutil import configure_gdal_for_batch
    from ..core.numeric import check_number

    check_number("--mmu-ha", args.mmu_ha, 0, MAX_MMU_HA)
    check_number("--dpi", args.dpi, 30, 1200, whole=True)
    configure_gdal_for_batch()
    what = parse_what(args.what)
    parts = ("classes", "confidence") if args.no_probabilities else ("classes", "confidence", "probabilities")
    options = ExportOptions(
        what=what,
        raster_format=args.raster_format,
        raster_parts=parts,
        vector_format=args.vector_format,
        mmu_ha=args.mmu_ha or 0.0,
        dissolve=args.dissolve,
        overwrite=args.overwrite,
        title=args.title,
    )
    bar = None if args.quiet else ProgressBar()
    run_info = load_run(args.source)
    for note in run_info.notes:
        print(f"note: {note}", file=sys.stderr)
    core_what = [w for w in what if w in CORE_WHAT]
    want_map = "map" in what
    map_options = None
    if want_map and qgis_available():
        map_options = _map_options(args)
    share = 0.7 if (want_map and core_what) else 1.0

    def p_core(p):
        if bar:
            bar.draw(p.fraction * share, p.message)

    out: dict = {}
    if core_what:
        result = export_run(run_info.classes_path, args.outdir, options, p_core, run=run_info)
        out = result.to_dict()
    exit_code = 0
    if want_map:
        if not qgis_available():
            print(
                "map: not made: the print-ready map needs QGIS and its Python module 'qgis' cannot be imported "
                "here (install QGIS, e.g. apt-get install python3-qgis, or export the map from the plugin)",
                file=sys.stderr,
            )
            out["map"] = None
            exit_code = 0 if core_what else 2
        else:
            from ..qgis_bridge.print_layout import export_map_headless

            def p_map(p):
                if bar:
                    bar.draw(share + p.fraction * (1 - share) if core_what else p.fraction, p.message)

            files = export_map_headless(run_info, args.outdir, map_options, progress=p_map)
            out.setdefault("files", []).extend(str(f) for f in files)
            out["map"] = [str(f) for f in files]
    if bar:
        bar.draw(1.0, "done")
    json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return exit_code


COMMANDS = (Command("export", DESCRIPTION, add_arguments, run),)
