"""Train the map model's decoder (models/map_net.py) on scenes composed from EuroSAT TRAINING
patches; model selection on scenes composed from VALIDATION patches; the test split is never read.

    python -m eurosat_landcover.models.map_train --classifier models/weights/eurosat_rgb_lite0.json \
        --out runs/map --steps 3000 --batch 8 --size 256 --threads 1

The trunk is the classifier's, frozen (its features computed in no_grad); only the decoder
learns. ``--out`` gets ``last.pt`` (resumable: rerun the same command), ``train.log``, and
the best-on-validation model as ``<name>.safetensors`` + ``<name>.json`` (a self-contained
weights file: trunk copied in).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from .augment import add_photometric_arguments, photometric_for_training
from .card import ModelCard, recipe_of
from .checkpoint import _read_state_dict, save_checkpoint, verify_weights
from .dataset import DEFAULT_DATASET, EUROSAT_CLASSES, load_arrays, split_fingerprint, stratified_split
from .map_net import from_classifier_state
from .radiometric_shifts import SHIFT_NAMES, apply_shift
from .scenes import PatchBank, jitter, training_scene
from .train_steps import selection_score

DEFAULT_DATA = DEFAULT_DATASET
ARCH = "tf_efficientnet_lite0_map"


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="map_train", description=__doc__.split("\n\n")[0])
    p.add_argument("--classifier", required=True, help="card of the trained classifier whose trunk is used")
    p.add_argument(
        "--init",
        default="",
        help="card of an earlier map model whose decoder starts this run (layers it lacks start at zero effect)",
    )
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--out", required=True)
    p.add_argument("--name", default="eurosat_rgb_lite0_map")
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="at most this many steps (default 3000; with --minutes, no limit: the time budget ends the run)",
    )
    p.add_argument(
        "--minutes",
        type=float,
        default=0,
        help="time budget: the learning rate follows the elapsed "
        "fraction of it (warm-up, cosine) and training stops when it is spent (0: steps only)",
    )
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--val-scenes", type=int, default=48)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split-seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--small-share",
        type=float,
        default=0.0,
        help="share of steps trained on 64 px scenes (4 x the batch): lone patches, as per-patch use sees them",
    )
    p.add_argument(
        "--lone-share",
        type=float,
        default=0.0,
        help="share of steps trained on lone 64 px training patches (4 x the batch), each labelled whole",
    )
    p.add_argument(
        "--freeze-bn", action="store_true", help="the decoder's batch-norm statistics stay those it started with"
    )
    p.add_argument(
        "--select",
        choices=("scene", "patch"),
        default="scene",
        help="scene: best validation scene pixel accuracy; patch: best majority class of lone validation "
        "patches among the validations whose scene accuracy is at most 0.2 points below the starting model's",
    )
    p.add_argument(
        "--val-shifts",
        action="store_true",
        help="also validate under the fixed radiometric shifts (models/radiometric_shifts.py); --select scene "
        "then selects on the mean of the clean and shifted pixel accuracies (as train --val-shifts does)",
    )
    add_photometric_arguments(p)
    args = p.parse_args(argv)
    if args.steps is None:  # a time budget alone must not stop at the step default before it is spent
        args.steps = 10**9 if args.minutes else 3000
    return args


def lone_patches(rng, bank, n) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` lone training patches (dihedral, jittered), each pixel labelled with the patch's class."""
    classes = rng.choice(bank.present, size=n)
    x = np.stack([jitter(rng, np.ascontiguousarray(bank.pick(rng, int(k), dihedral=True))) for k in classes])
    y = np.broadcast_to(classes[:, None, None], (n, 64, 64)).astype(np.int64)
    return torch.from_numpy(x).float(), torch.from_numpy(y.copy())


def patch_majority_accuracy(net, images, labels, card) -> float:
    """Share of lone patches whose majority pixel class is their label (how per-patch use scores)."""
    net.eval()
    right = 0
    with torch.no_grad():
        for i in range(0, len(images), 64):
            cls = net(normalise(torch.from_numpy(images[i : i + 64]).float(), card)).argmax(1).flatten(1)
            major = torch.stack([torch.bincount(c, minlength=card.num_classes).argmax() for c in cls])
            right += int((major.numpy() == labels[i : i + 64]).sum())
    net.train()
    return right / len(images)


def scenes_tensor(rng, bank, n, size):
    pairs = [training_scene(rng, bank, size, list(EUROSAT_CLASSES)) for _ in range(n)]
    x = torch.from_numpy(np.stack([a for a, _ in pairs])).float()
    y = torch.from_numpy(np.stack([b for _, b in pairs]))
    return x, y


def normalise(x, card):
    mean = torch.tensor(card.mean).view(1, -1, 1, 1)
    std = torch.tensor(card.std).view(1, -1, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def validate(net, val, card):
    """Pixel accuracy on the fixed validation scenes (and the mean loss)."""
    net.eval()
    right = total = 0
    loss = 0.0
    with torch.no_grad():
        for x, y in val:
            logits = net(normalise(x, card))
            loss += float(F.cross_entropy(logits, y)) * len(y)
            right += int((logits.argmax(1) == y).sum())
            total += y.numel()
    net.train()
    return right / total, loss / sum(len(y) for _, y in val)


def validate_shifted(net, val, card) -> dict:
    """Pixel accuracy on the validation scenes under each fixed radiometric shift."""
    return {
        name: validate(net, [(apply_shift(name, x, channel_axis=1), y) for x, y in val], card)[0]
        for name in SHIFT_NAMES
    }


def save_best(net, card_base, args, record, out):
    card = ModelCard.from_dict({**card_base.to_dict(), **record, "weights_sha256": ""})
    save_checkpoint(net, card, out / f"{args.name}.json")


class Trainer:
    """The decoder's training state: data, optimiser, step, best validation score, history."""

    def __init__(self, args, say):
        self.args, self.say = args, say
        self.out = Path(args.out)
        self.base = ModelCard.load(args.classifier)
        net = from_classifier_state(_read_state_dict(verify_weights(self.base)), self.base.num_classes)
        if args.init:
            init_decoder(net, ModelCard.load(args.init), say)
        self.net = net.to(memory_format=torch.channels_last)
        self.split = stratified_split(args.data, seed=args.split_seed)
        t0 = time.time()
        self.train_bank = PatchBank(*load_arrays(args.data, self.split["train"]))
        val_images, val_labels = load_arrays(args.data, self.split["val"])
        val_bank = PatchBank(val_images, val_labels)
        n_train, n_val = len(self.train_bank.images), len(val_bank.images)
        say(f"decoded train {n_train} / val {n_val} patches in {time.time() - t0:.0f} s")
        vrng = np.random.default_rng(10_000 + args.seed)
        self.val = [scenes_tensor(vrng, val_bank, 8, args.size) for _ in range(args.val_scenes // 8)]
        pick = vrng.choice(n_val, size=min(1000, n_val), replace=False)
        self.val_patches = (val_images[pick], np.asarray(val_labels)[pick])
        net.freeze_decoder_bn = args.freeze_bn
        self.params = list(self.net.decoder.parameters())
        self.opt = torch.optim.AdamW(self.params, lr=args.lr, weight_decay=1e-4)
        self.step, self.best, self.history, self.spent = 0, -1.0, [], 0.0
        self.t0 = time.time()

    @property
    def last(self) -> Path:
        return self.out / "last.pt"

    def elapsed(self) -> float:
        return self.spent + time.time() - self.t0

    def resume(self) -> None:
        if not self.last.exists():
            return
        state = torch.load(self.last, map_location="cpu", weights_only=True)
        self.net.decoder.load_state_dict(state["decoder"])
        self.opt.load_state_dict(state["opt"])
        self.step, self.best = int(state["step"]), float(state["best"])
        self.history, self.spent = json.loads(state["history"]), float(state.get("spent", 0.0))
        self.say(f"resumed at step {self.step} (best val {self.best:.4f})")

    def train_step(self, rng) -> float:
        args = self.args
        frac = self.elapsed() / (60 * args.minutes) if args.minutes else self.step / args.steps
        for group in self.opt.param_groups:
            group["lr"] = learning_rate(args.lr, frac)
        if args.lone_share and rng.random() < args.lone_share:
            x, y = lone_patches(rng, self.train_bank, 4 * args.batch)
        elif args.small_share and rng.random() < args.small_share:
            x, y = scenes_tensor(rng, self.train_bank, 4 * args.batch, 64)
        else:
            x, y = scenes_tensor(rng, self.train_bank, args.batch, args.size)
        xn = normalise(photometric_for_training(x, args), self.base)
        with torch.no_grad():
            feats = self.net.features(xn)
        loss = F.cross_entropy(self.net.decode(feats, xn.shape[-2:]), y, label_smoothing=0.05)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 2.0)
        self.opt.step()
        self.step += 1
        return loss.item()

    def validate_and_keep(self) -> None:
        """Validation score recorded; the best model saved; the resumable state saved."""
        acc, vloss = validate(self.net, self.val, self.base)
        patch = patch_majority_accuracy(self.net, *self.val_patches, self.base)
        entry = {"step": self.step, "val_pixel_acc": round(acc, 5), "val_loss": round(vloss, 5)}
        shifts = validate_shifted(self.net, self.val, self.base) if self.args.val_shifts else {}
        score = selection_score(acc, shifts)
        if shifts:
            entry |= {"val_shifts": {k: round(v, 5) for k, v in shifts.items()}, "val_select": round(score, 5)}
        self.history.append({**entry, "val_patch_acc": round(patch, 5)})
        shifted = "".join(f" {k} {v:.4f}" for k, v in shifts.items())
        self.say(f"val step {self.step}: pixel accuracy {acc:.4f} loss {vloss:.4f} lone patches {patch:.4f}{shifted}")
        if self.args.select == "patch":
            floor = self.history[0]["val_pixel_acc"] - 0.002
            score = patch if acc >= floor else -1.0
        if score > self.best:
            self.best = score
            fields = card_fields(self.args, self.base, self.split, self.history, self.step, acc)
            save_best(self.net, self.base, self.args, fields, self.out)
            self.say(f"  best so far, saved {self.args.name}")
        state = {
            "decoder": self.net.decoder.state_dict(),
            "opt": self.opt.state_dict(),
            "step": self.step,
            "spent": self.elapsed(),
            "best": self.best,
            "history": json.dumps(self.history),
        }
        torch.save(state, self.out / "last.pt.tmp")
        (self.out / "last.pt.tmp").replace(self.last)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "train.log", "a", buffering=1) as log:

        def say(msg):
            print(msg, file=log)
            print(msg, flush=True)

        tr = Trainer(args, say)
        tr.resume()
        if args.select == "patch" and not tr.history:  # the starting model: the floor and the first candidate
            tr.validate_and_keep()
        rng = np.random.default_rng(args.seed * 1_000_003 + tr.step)
        tr.net.train()
        tr.t0, seen = time.time(), 0
        while tr.step < args.steps and not (args.minutes and tr.elapsed() > 60 * args.minutes):
            loss = tr.train_step(rng)
            seen += args.batch
            if tr.step % 20 == 0:
                say(f"step {tr.step} loss {loss:.4f} {seen / (time.time() - tr.t0):.1f} scenes/s")
            if tr.step % args.val_every == 0:
                tr.validate_and_keep()
        if not tr.history or tr.history[-1]["step"] != tr.step:  # stopped between two validations
            tr.validate_and_keep()
        say(f"done: {tr.step} steps, best validation pixel accuracy {tr.best:.4f}")
    return 0


def init_decoder(net, card, say) -> None:
    """The decoder's layers that ``card``'s map model has, copied; new layers keep their initialisation
    (their output convolutions start at zero, so the start is the earlier model)."""
    state = _read_state_dict(verify_weights(card))
    decoder = {k[len("decoder.") :]: v for k, v in state.items() if k.startswith("decoder.")}
    missing, unexpected = net.decoder.load_state_dict(decoder, strict=False)
    if unexpected:
        raise ValueError(f"{card.name}: decoder layers this architecture lacks: {unexpected[:3]}")
    say(f"decoder from {card.name}; new layers: {sorted({k.rsplit('.', 1)[0] for k in missing})}")


def _identity(card_path: str) -> dict:
    card = ModelCard.load(card_path)
    return {"name": card.name, "weights_sha256": card.weights_sha256}


def learning_rate(peak: float, frac: float, warmup: float = 0.05) -> float:
    """Linear warm-up over ``warmup`` of the run, then cosine down to 1 % of ``peak``."""
    import math

    if frac < warmup:
        return peak * max(frac / warmup, 0.02)
    t = min(1.0, (frac - warmup) / (1 - warmup))
    return peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


def card_fields(args, base, split, history, step, acc) -> dict:
    """The map model card's fields (the classifier's card, renamed, with the training record)."""
    cmd = "python -m eurosat_landcover.models.map_train " + " ".join(sys.argv[1:])
    return {
        "name": args.name,
        "title": "EuroSAT RGB land-cover map at 10 m (tf_efficientnet_lite0 trunk + FPN decoder)",
        "architecture": ARCH,
        "weights": f"{args.name}.safetensors",
        "description": (
            "Per-pixel EuroSAT classes for Sentinel-2 RGB (B04, B03, B02 scaled as clip(DN/2750*255, 0, 255)): "
            "the frozen trunk of the EuroSAT classifier plus a decoder trained on scenes composed from "
            "EuroSAT training patches. Used by classify --mode map."
        ),
        "metrics": {"val_scene_pixel_accuracy": round(acc, 5), "selected_step": step},
        "training": {
            "command": cmd,
            "trunk_from": {"name": base.name, "weights_sha256": base.weights_sha256},
            **({"decoder_from": _identity(args.init)} if args.init else {}),
            "recipe": recipe_of(args, leave_out=("classifier", "out")),
            "split": {"seed": args.split_seed, **split_fingerprint(split)},
            "history": history,
            "model_selection": "best pixel accuracy on scenes composed from validation patches; test split unused",
        },
    }


if __name__ == "__main__":
    raise SystemExit(main())
