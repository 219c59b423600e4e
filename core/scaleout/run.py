"""The client of ``classify-many``: plan, submit to Dask, follow, cancel, mosaic, summarise."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .. import writers
from ..errors import ClassificationCancelled, ClassificationError
from ..request import DEFAULT_MODE
from .address import check_scheduler, parse_address
from .blocks import Block, RasterPlan, fingerprint, plan_raster
from .inputs import expand_inputs
from .mosaic import SUMMARY_NAME, merged_summary, raster_summary, write_mosaic
from .replace import SetReplacement
from .worker import KINDS, MARKER_DIR, blocks_dir, complete_marker, run_block, temp_token, tile_path

LOG = logging.getLogger(__name__)
DEFAULT_BLOCK_SIZE = 4096  # px at the model's gsd: 16 MB per band read, ~16k windows at stride 32
DEFAULT_RETRIES = 2
CANCEL_GRACE_S = 60.0  # after a cancel, how long the client waits for the running blocks to stop writing


@dataclass
class ManyProgress:
    """Progress of the whole job, reported after each finished block."""

    tasks_done: int
    tasks_total: int
    windows_done: int
    windows_total: int
    seconds: float
    failed: int = 0

    @property
    def fraction(self) -> float:
        return self.windows_done / self.windows_total if self.windows_total else 1.0

    @property
    def windows_per_second(self) -> float:
        return self.windows_done / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        failed = f", {self.failed} failed" if self.failed else ""
        return (
            f"{self.tasks_done}/{self.tasks_total} blocks, {self.windows_done}/{self.windows_total} windows, "
            f"{self.windows_per_second:.0f} windows/s{failed}"
        )


def _dask():
    try:
        import distributed
    except ImportError:
        raise ClassificationError(
            "classify-many needs Dask's distributed scheduler: install it with "
            '`python -m pip install "dask[distributed]"` (the single-raster classify works without it)'
        ) from None
    return distributed


def _python_for_workers() -> None:
    """Worker processes are started from ``sys.executable``. Inside QGIS or qgis_process Python is
    embedded and ``sys.executable`` is a guess (QGIS's binary, or whatever ``python3`` comes first
    on PATH); the interpreter of the running Python lives under ``sys.exec_prefix``, so use that."""
    import multiprocessing
    import sys

    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    prefix = Path(sys.exec_prefix)
    candidates = [prefix / "bin" / version, prefix / "python.exe", prefix / "bin" / "python3"]
    found = next((c for c in candidates if c.is_file()), None)
    if found is not None and found.resolve() != Path(sys.executable).resolve():
        multiprocessing.set_executable(str(found))


def _worker_environment():
    """Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536, which makes glibc hand every freed
    activation buffer back to the kernel: PyTorch's CPU forward then ran at half speed (measured
    359 vs 671 windows/s). The workers keep Dask's other settings (one OpenMP/MKL thread)."""
    import dask

    key = "distributed.nanny.pre-spawn-environ"
    environ = {k: v for k, v in (dask.config.get(key, default=None) or {}).items() if k != "MALLOC_TRIM_THRESHOLD_"}
    return dask.config.set({key: environ})


@contextlib.contextmanager
def connect(scheduler: str = "local", workers: Optional[int] = None):
    """A Dask client: a LocalCluster of worker processes, or the scheduler at ``tcp://host:port``."""
    distributed = _dask()
    if scheduler in (None, "", "local"):
        _python_for_workers()
        with _worker_environment():  # also for workers the nanny restarts later
            cluster = distributed.LocalCluster(
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.CRITICAL,
            )
            try:
                with distributed.Client(cluster) as client:
                    yield client
            finally:
                cluster.close()
    else:
        check_scheduler(scheduler)  # a connect timeout, and the peer must answer as Dask does
        try:
            client = distributed.Client(scheduler, timeout="20s")
        except (OSError, ValueError, MemoryError) as exc:
            raise ClassificationError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        with client:
            kind = (client.scheduler_info() or {}).get("type")
            if kind != "Scheduler":
                what = f"a Dask {kind}" if kind else "not a Dask scheduler"
                raise ClassificationError(f"{scheduler} is {what}: give the address of the scheduler")
            yield client


def _sweep(outdir: Path, names) -> None:
    """Remove this job's temporary files and folders left by killed workers: everything named
    ``*.partial*`` in the raster's blocks folder, and the mosaic's ``<name>_*.vrt.*.partial``."""
    for name in names:
        leftovers = [*blocks_dir(outdir, name).glob("*.partial*"), *outdir.glob(f"{name}_*.vrt.*.partial")]
        for entry in leftovers:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


@contextlib.contextmanager
def _lock(outdir: Path):
    """One classify-many at a time per output folder."""
    path = outdir / MARKER_DIR / "lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        owner = path.read_text().strip() if path.exists() else ""
        pid = int(owner.split("@")[0]) if owner.split("@")[0].isdigit() else -1
        if owner.endswith("@" + socket.gethostname()) and pid > 0 and not writers.pid_alive(pid):
            path.unlink(missing_ok=True)
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        else:
            raise ClassificationError(
                f"another classify-many ({owner or 'unknown'}) is writing into {outdir}; wait for it or "
                f"delete {path} if it was killed on another machine"
            ) from None
    os.write(fd, f"{os.getpid()}@{socket.gethostname()}".encode())
    os.close(fd)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _check_conflicts(outdir: Path, plans, todo: list[Block], overwrite: bool) -> None:
    """Files a block or mosaic would replace that no complete block of this job accounts for."""
    if overwrite:
        return
    for block in todo:
        if not block.split:
            continue  # the engine checks its own outputs (ClassificationRequest.overwrite)
        names = [tile_path(outdir, block, k) for k in KINDS]
        names += [outdir / f"{block.name}_{k}.vrt" for k in KINDS] + [outdir / f"{block.name}_summary.json"]
        taken = next((p for p in names if p.exists()), None)
        if taken is not None:
            raise ClassificationError(
                f"{taken} already exists and is not part of a complete block of this job "
                "(other options or another run): choose another output folder or pass --overwrite"
            )


def _plan_all(named: dict, card, options: dict, block_size: int):
    plans: dict[str, RasterPlan] = {}
    failures: dict[str, str] = {}
    for name, path in named.items():
        try:
            plans[name] = plan_raster(name, path, card, options, block_size)
        except ClassificationError as exc:
            failures[name] = str(exc)
    return plans, failures


def _submit(client, plans, todo: list[Block], options: dict, outdir: Path, fp: str, event: str, retries: int):
    futures = {}
    for block in todo:
        plan = plans[block.name]
        block_options = {**options, "single_run_windows": plan.windows}
        if plan.percentile_limits is not None:
            block_options["percentile_limits"] = plan.percentile_limits
        fut = client.submit(
            run_block,
            block,
            block_options,
            str(outdir),
            fp,
            event,
            key=f"eurosat-{block.name}-{block.block_id}-{fp}",
            retries=retries,
            pure=False,
        )
        futures[fut] = block
    return futures


def _follow(distributed, futures, markers, failures, report, is_cancelled, retries: int) -> None:
    for fut in distributed.as_completed(list(futures)):
        block = futures[fut]
        if fut.status == "finished" and "error" in fut.result():
            failures[block.name] = f"block {block.block_id}: {fut.result()['error']}"
        elif fut.status == "finished":
            markers[(block.name, block.block_id)] = fut.result()
        else:
            exc = fut.exception()
            failures[block.name] = f"block {block.block_id} failed after {retries + 1} tries: {exc}"
        report(block)
        if is_cancelled():
            raise ClassificationCancelled("classify-many cancelled")


def _finish(outdir: Path, plans, markers, failures, card) -> dict:
    per_raster = {}
    for name, plan in plans.items():
        got = [markers.get((name, b.block_id)) for b in plan.blocks]
        if name in failures or not all(got):
            failures.setdefault(name, "not all blocks completed")
            continue
        outputs = write_mosaic(outdir, plan, got, card) if plan.split else dict(got[0]["outputs"])
        per_raster[name] = raster_summary(plan, got, card, outputs)
        if plan.split:
            summary_path = outdir / f"{name}_summary.json"
            writers.write_json_atomic(summary_path, per_raster[name])
    return per_raster


def classify_many(
    inputs,
    outdir,
    options: Optional[dict] = None,
    *,
    scheduler: str = "local",
    workers: Optional[int] = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    retries: int = DEFAULT_RETRIES,
    progress: Optional[Callable[[ManyProgress], None]] = None,
    is_cancelled: Optional[Callable[[], bool]] = None,
) -> dict:
    """Classify every input on a Dask cluster; returns the merged summary (also written as JSON).

    ``options`` are ClassificationRequest fields (stride, bands, radiometry, bounds, model_card,
    device, batch_size, threads, fast_path, probabilities_dtype, write_probabilities, overwrite).
    Blocks already complete for the same options are reused; Ctrl+C or ``is_cancelled`` cancels the
    running blocks and leaves no partial file. Inputs that fail are reported in ``failures``.
    """
    distributed = _dask()
    _check_job(scheduler, workers, block_size, retries)
    options = {"threads": 1, "mode": DEFAULT_MODE, **(options or {})}
    progress = progress or (lambda p: None)
    is_cancelled = is_cancelled or (lambda: False)
    t0 = time.perf_counter()
    from ..stages.model import read_card

    card = read_card(options.get("model_card"), options["mode"])  # map mode: each raster whole
    _check_options(options, card, outdir, block_size)
    named = expand_inputs(inputs)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    plans, failures = _plan_all(named, card, options, block_size)
    fp = fingerprint(options, card, block_size)
    markers: dict = {}
    with _lock(outdir):
        _sweep(outdir, plans)
        todo = _todo(outdir, plans, fp, markers)
        reused = len(markers)
        replacing = SetReplacement(outdir)
        if options.get("overwrite"):  # an old set of other options goes as a whole (scaleout/replace.py)
            for name in {b.name for b in todo} - {n for n, _ in markers}:
                replacing.move_aside(name)
        _check_conflicts(outdir, plans, todo, bool(options.get("overwrite")))
        windows_total = sum(b.windows for b in todo)
        state = ManyProgress(0, len(todo), 0, windows_total, 0.0)
        t_compute = time.perf_counter()

        def report(block: Block) -> None:
            state.tasks_done += 1
            state.windows_done += block.windows
            state.failed = len(failures)
            state.seconds = time.perf_counter() - t_compute
            progress(state)

        def compute() -> dict:
            cluster_info: dict = {}
            if todo:
                _run_blocks(distributed, connect_args, plans, todo, options, outdir, fp, markers, failures, follow)
                cluster_info.update(follow.cluster)
            timings = {"compute": time.perf_counter() - t_compute}
            per_raster = _finish(outdir, plans, markers, failures, card)
            timings["total"] = time.perf_counter() - t0
            cluster_info.update(blocks_computed=len(todo), blocks_reused=reused)
            return merged_summary(per_raster, failures, card, timings, cluster_info, _public(options, block_size))

        connect_args = (scheduler, workers, retries)
        follow = _Follow(report, is_cancelled)
        try:
            summary = compute()
        except BaseException:
            replacing.close(failed=True)
            raise
        for name in plans:
            replacing.commit(name) if name in summary["rasters"] else replacing.restore(name)
        replacing.close(failed=False)
        writers.write_json_atomic(outdir / SUMMARY_NAME, summary)
    return summary


def _check_job(scheduler, workers, block_size, retries) -> None:
    """The job's own options, checked before anything is written: numbers finite and in range, and a
    scheduler address that answers as a Dask scheduler (core/scaleout/address.py)."""
    from ..numeric import check_number

    if workers is not None:
        check_number("--workers", workers, 1, 1024, whole=True)
    check_number("--block-size", block_size, 128, 1 << 20, whole=True)
    check_number("--retries", retries, 0, 100, whole=True)
    if scheduler not in (None, "", "local"):
        parse_address(scheduler)
        check_scheduler(scheduler)


def _check_options(options: dict, card, outdir, block_size: int) -> None:
    """The per-run options checked once, as a single run checks them, before any file is written (a bad
    value used to fail every raster one by one, after the output folder was made)."""
    from dataclasses import fields

    from ..request import ClassificationRequest
    from ..stages.prepare import validate_request
    from ..windows import check_stride

    known = {f.name for f in fields(ClassificationRequest)}
    values = {k: v for k, v in options.items() if k in known and k not in ("input_path", "output_dir")}
    validate_request(ClassificationRequest(input_path="inputs", output_dir=str(outdir), **values))
    patch = int(card.patch_size)
    check_stride(options.get("stride", 32), patch)
    if int(block_size) < 2 * patch:
        raise ClassificationError(f"the block size must be at least {2 * patch} px (two windows), got {block_size}")


def _todo(outdir: Path, plans, fp: str, markers: dict) -> list[Block]:
    """The blocks to compute; those complete for these options go into ``markers``."""
    todo = []
    for plan in plans.values():
        for block in plan.blocks:
            marker = complete_marker(outdir, block, fp)
            if marker is not None:
                markers[(block.name, block.block_id)] = marker
            else:
                todo.append(block)
    return todo


@dataclass
class _Follow:
    report: Callable
    is_cancelled: Callable
    cluster: dict = None


def _run_blocks(distributed, connect_args, plans, todo, options, outdir, fp, markers, failures, follow) -> None:
    """Submit the blocks to the cluster and follow them; Ctrl+C or a cancel stops the running ones."""
    scheduler, workers, retries = connect_args
    event = f"eurosat-cancel-{temp_token()}"
    try:
        with connect(scheduler, workers) as client:
            follow.cluster = {"scheduler": scheduler, "workers": len(client.scheduler_info()["workers"])}
            cancel = distributed.Event(event, client=client)
            futures = _submit(client, plans, todo, options, outdir, fp, event, retries)
            try:
                _follow(distributed, futures, markers, failures, follow.report, follow.is_cancelled, retries)
            except BaseException:
                cancel.set()  # running blocks stop at their next check; one past its last check writes its files
                _wait_for_workers(distributed, futures)  # so that none still writes once this has returned
                client.cancel(list(futures))
                raise
    finally:
        _sweep(outdir, plans)


def _wait_for_workers(distributed, futures) -> None:
    """Until every block has stopped (at most CANCEL_GRACE_S): a block still writing after the call returned
    left tiles without their marker, which a rerun then refused as another run's files."""
    try:
        distributed.wait(list(futures), timeout=CANCEL_GRACE_S)
    except Exception:  # a timeout (a stuck worker): its futures are cancelled next; the sweep still runs
        LOG.warning("some blocks had not stopped %.0f s after the cancel", CANCEL_GRACE_S)


def _public(options: dict, block_size: int) -> dict:
    return {**{k: v for k, v in options.items() if k != "single_run_windows"}, "block_size": block_size}
