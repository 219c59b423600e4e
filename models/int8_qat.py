"""Quantization-aware fine-tuning of the INT8 model (issue 26): the command that makes models/weights/*_int8.pt.

    PYTHONPATH=.pp nice -n 10 .venv/bin/python -P -m eurosat_landcover.models.int8_qat \\
        --data /work/shared/datasets/eurosat-rgb/EuroSAT_RGB.zip --out runs/qat --minutes 70 [--resume]

The student is the bundled fp32 network as models/int8_path.py quantizes it (fixed padding, batch norms
folded, the convolutions feeding a ReLU6 on the fixed range [0, 6], stem and classifier fp32, per-channel
symmetric int8 weights, full-range uint8 activations), prepared with FX ``prepare_qat_fx`` (fake quantization)
and initialised from the fp32 weights; the teacher is the fp32 network. Loss: distillation to the teacher's
logits (KL of the softmaxes at temperature ``--temperature``, times T², plus ``--mse`` x MSE of the logits) on
batches of windows straddling two to four EuroSAT TRAIN-split patches (a random 64 px crop of a 2 x 2 block of
random patches, flipped / rotated) and whole train patches. Adam, learning rate ``--lr`` with a short warm-up
and a cosine decay over the time budget; the observers are frozen after ``--freeze-observers`` steps.

Every ``--val-minutes`` the model is converted to INT8 and scored: cell agreement with fp32 at stride 16 on 4
mosaics of VALIDATION patches (models/int8_cells.py; never the test split or the sample). The best one is
written as ``<out>/<card name>_int8.pt`` and ``.json`` in the shipped format (models/int8_shipped.py;
copied to models/weights/ to ship it); ``<out>/state.pt`` (the
fake-quant model, optimizer, step, time spent, best score) every ``--checkpoint-minutes``, so ``--resume``
carries on. One log line every ``--log-every`` steps. Torch runs on one thread.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from . import int8_path
from .int8_graph import static_padding

VAL_MOSAICS = 4


def qat_qconfig(sites: list[tuple[str, str]]):
    """int8_path._qconfig's mapping with fake quantization: per-channel symmetric int8 weights, uint8
    activations over the full range, the ReLU6 inputs fixed on [0, 6], FP32_MODULES left fp32."""
    from torch.ao.quantization import QConfig, QConfigMapping
    from torch.ao.quantization.fake_quantize import FakeQuantize, FixedQParamsFakeQuantize
    from torch.ao.quantization.observer import (
        FixedQParamsObserver,
        MovingAverageMinMaxObserver,
        MovingAveragePerChannelMinMaxObserver,
    )

    weight = FakeQuantize.with_args(
        observer=MovingAveragePerChannelMinMaxObserver,
        quant_min=-128,
        quant_max=127,
        dtype=torch.qint8,
        qscheme=torch.per_channel_symmetric,
    )
    act = FakeQuantize.with_args(
        observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255, dtype=torch.quint8, reduce_range=False
    )
    fixed = FixedQParamsObserver.with_args(scale=int8_path.RELU6_SCALE, zero_point=0)
    relu6 = QConfig(activation=FixedQParamsFakeQuantize.with_args(observer=fixed), weight=weight)
    mapping = QConfigMapping().set_global(QConfig(activation=act, weight=weight))
    for conv, a in sites:
        if not int8_path._in_fp32(conv):
            mapping.set_module_name(conv, relu6)
        elif not int8_path._in_fp32(a):
            mapping.set_module_name(a.rpartition(".")[0], relu6)
    for name in int8_path.FP32_MODULES:
        mapping.set_module_name(name, None)
    return mapping


def student_and_teacher(eager, patch: int):
    """``(prepared fake-quant network, fp32 teacher network, ReLU6 sites)``, both on normalised input."""
    from torch.ao.quantization.quantize_fx import prepare_qat_fx

    torch.backends.quantized.engine = int8_path.ENGINE
    example = torch.zeros(1, 3, patch, patch).contiguous(memory_format=torch.channels_last)
    teacher = static_padding(eager.net, example).eval()
    sites = int8_path.relu6_sites(teacher, example)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        student = prepare_qat_fx(copy.deepcopy(teacher).eval(), qat_qconfig(sites), (example,))
    for p in teacher.parameters():
        p.requires_grad_(False)
    return student, teacher, sites


def convert(student, sites, mean, std) -> int8_path.Int8Classifier:
    """The fake-quant ``student`` converted to INT8 as int8_path.quantize converts (a copy; ReLU6 removed)."""
    from torch.ao.quantization.quantize_fx import convert_fx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qnet = convert_fx(copy.deepcopy(student).eval())
    for _, act in sites:
        if not int8_path._in_fp32(act):
            parent, _, child = act.rpartition(".")
            setattr(qnet.get_submodule(parent), child, torch.nn.Identity())
    return int8_path.Int8Classifier(qnet, mean, std).eval()


def batch_of(images: np.ndarray, rng: np.random.Generator, size: int, whole: int) -> torch.Tensor:
    """``size`` windows (float 0-255): ``size - whole`` random crops of 2 x 2 blocks of random patches
    (straddling two to four), then ``whole`` whole patches; each flipped / rotated at random."""
    n, c, p, _ = images.shape
    out = np.empty((size, c, p, p), np.uint8)
    for i in range(size):
        if i < size - whole:
            k = rng.integers(0, n, 4)
            block = np.concatenate(
                [np.concatenate([images[k[0]], images[k[1]]], 2), np.concatenate([images[k[2]], images[k[3]]], 2)], 1
            )
            y, x = rng.integers(1, p, 2)
            win = block[:, y : y + p, x : x + p]
        else:
            win = images[rng.integers(0, n)]
        win = np.rot90(win, int(rng.integers(0, 4)), (1, 2))
        out[i] = win[:, :, ::-1] if rng.integers(0, 2) else win
    return torch.from_numpy(out).float()


def distillation_loss(s: torch.Tensor, t: torch.Tensor, temperature: float, mse: float) -> torch.Tensor:
    log_s, log_t = torch.log_softmax(s / temperature, 1), torch.log_softmax(t / temperature, 1)
    kl = torch.nn.functional.kl_div(log_s, log_t, log_target=True, reduction="batchmean")
    return kl * temperature**2 + mse * torch.nn.functional.mse_loss(s, t)


def learning_rate(args, step: int, elapsed: float) -> float:
    warm = min(1.0, (step + 1) / 50)
    frac = min(1.0, elapsed / (60 * args.total_minutes))
    return args.lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))


def load_data(args, card):
    """``(train patches uint8, probe patches uint8, validation reference cells)``."""
    from .dataset import list_eurosat, load_arrays, stratified_split
    from .int8_cells import val_mosaics

    train = stratified_split(list_eurosat(args.data, card.class_names), classes=card.class_names)["train"]
    order = np.random.default_rng(0).permutation(len(train))
    probe_items = [train[i] for i in order[: int8_path.PROBE_PATCHES]]
    items = [train[i] for i in order[int8_path.PROBE_PATCHES :][: args.patches]]
    images, _ = load_arrays(args.data, items, size=card.patch_size)
    probe, _ = load_arrays(args.data, probe_items, size=card.patch_size)
    return images, probe, val_mosaics(args.data, card, count=VAL_MOSAICS)


def validate(student, sites, eager, reference) -> tuple[float, int8_path.Int8Classifier]:
    from .int8_cells import cell_agreement

    int8 = convert(student, sites, eager.mean, eager.std)
    return cell_agreement(int8, reference), int8


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="the EuroSAT RGB zip or folder")
    ap.add_argument("--out", required=True, help="run folder (state.pt, the best <card name>_int8.pt / .json)")
    ap.add_argument("--minutes", type=float, default=60.0, help="time budget of this invocation")
    ap.add_argument("--total-minutes", type=float, default=None, help="the schedule's length (default --minutes)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--whole", type=int, default=8, help="whole train patches in each batch")
    ap.add_argument("--temperature", type=float, default=2.0)
    ap.add_argument("--mse", type=float, default=0.1)
    ap.add_argument("--patches", type=int, default=8192, help="train patches to draw windows from")
    ap.add_argument("--freeze-observers", type=int, default=300)
    ap.add_argument("--log-every", type=int, default=20)
    ap.add_argument("--val-minutes", type=float, default=6.0)
    ap.add_argument("--checkpoint-minutes", type=float, default=4.0)
    args = ap.parse_args(argv)
    args.total_minutes = args.total_minutes or args.minutes
    torch.set_num_threads(1)
    from .checkpoint import default_card_path
    from .graph_cache import model_identity
    from .int8_cells import reference_cells
    from .int8_shipped import SUFFIX, write
    from .lazy_model import materialise
    from .model_cache import cached_model
    from .weights_memo import write_atomic

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = lambda s: print(f"{time.strftime('%H:%M:%S')} {s}", flush=True)  # noqa: E731
    model, card, _ = cached_model(default_card_path(), "cpu")
    eager, identity = materialise(model).eval(), model_identity(model)
    student, teacher, sites = student_and_teacher(eager, card.patch_size)
    images, probe, mosaics = load_data(args, card)
    reference = reference_cells(eager, mosaics)
    log(f"data: {len(images)} train patches, {len(probe)} probe, {len(mosaics)} validation mosaics")
    opt = torch.optim.Adam(student.parameters(), lr=args.lr)
    state_file, best_file = out / "state.pt", out / f"{card.name}{SUFFIX}.json"
    step, spent, best = 0, 0.0, -1.0
    rng = np.random.default_rng(int(time.time()))
    norm = lambda x: ((x - eager.mean) / eager.std).contiguous(memory_format=torch.channels_last)  # noqa: E731
    if args.resume and state_file.is_file():
        st = torch.load(state_file, map_location="cpu", weights_only=False)
        student.load_state_dict(st["student"])
        opt.load_state_dict(st["opt"])
        step, spent, best = st["step"], st["spent"], st["best"] if best_file.is_file() else -1.0
        log(f"resumed at step {step}, {spent / 60:.1f} min spent, best validation agreement {best:.4%}")
    else:
        with torch.no_grad():  # the activation observers start from the fp32 ranges of real windows
            for _ in range(20):
                student(norm(batch_of(images, rng, 64, 16)))
    if step >= args.freeze_observers:
        student.apply(torch.ao.quantization.disable_observer)

    def save_state():  # the time spent: before this invocation plus this one's so far
        write_atomic(state_file, _state_bytes(student, opt, step, spent + time.perf_counter() - start, best))

    def check():
        nonlocal best
        score, int8 = validate(student, sites, eager, reference)
        note = (
            f"quantization-aware fine-tuned ({step} steps; cell agreement with fp32 on validation mosaics {score:.2%})"
        )
        if score > best:
            best = score
            write(out, card.name, int8, identity, card.patch_size, 3, torch.from_numpy(probe), note)
        log(f"validation at step {step}: cell agreement {score:.4%} (best {best:.4%})")

    start, first = time.perf_counter(), step
    last_val = last_ckpt = start
    if step == 0:
        check()
    run_loss = 0.0
    while time.perf_counter() - start < 60 * args.minutes:
        lr = learning_rate(args, step, spent + time.perf_counter() - start)
        for g in opt.param_groups:
            g["lr"] = lr
        x = norm(batch_of(images, rng, args.batch, args.whole))
        with torch.no_grad():
            t = teacher(x)
        loss = distillation_loss(student(x), t, args.temperature, args.mse)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        run_loss += loss.item()
        if step == args.freeze_observers:
            student.apply(torch.ao.quantization.disable_observer)
            log(f"observers frozen at step {step}")
        if step % args.log_every == 0:
            el = time.perf_counter() - start
            here = f"{el / 60:.1f} min, {el / (step - first):.2f} s/step"
            log(f"step {step} loss {run_loss / args.log_every:.5f} lr {lr:.2e} ({here} in this invocation)")
            run_loss = 0.0
        now = time.perf_counter()
        if now - last_val > 60 * args.val_minutes:
            check()
            last_val = time.perf_counter()
        if now - last_ckpt > 60 * args.checkpoint_minutes:
            save_state()
            last_ckpt = now
    check()
    save_state()
    spent += time.perf_counter() - start
    log(f"done: {step} steps, {spent / 60:.1f} min in all, best validation agreement {best:.4%} ({best_file})")
    return 0


def _state_bytes(student, opt, step, spent, best) -> bytes:
    import io

    buf = io.BytesIO()
    state = {"student": student.state_dict(), "opt": opt.state_dict(), "step": step, "spent": spent, "best": best}
    torch.save(state, buf)
    return buf.getvalue()


if __name__ == "__main__":
    sys.exit(main())
