"""The INT8 model's fp32 classifier refitted to the quantized features (issue 26; used by models/int8_path.py).

Quantization shifts the pooled features the classifier reads a little, the same way on every window of
a kind; the classifier (kept fp32) is refitted by least squares so that, on the INT8 features, it gives
the fp32 model's logits: ``[features, 1] @ W ~ fp32 logits`` (ridge ``RIDGE`` x windows). The windows are
those of a mosaic of EuroSAT TRAIN-split patches at half a patch's stride, so most of them straddle two
to four patches, as the windows of a real map do where land cover changes (a model's errors are largest
there; on whole patches INT8 already agrees with fp32 on 99.8 %).

Measured on mosaics of VALIDATION patches at stride 16 (scratch runs, 2026-12-07; benchmarks/results_int8.md):
cell agreement with fp32 96.5 % -> 97.6 % with 926 train patches (the engine takes 1,024); with only the 256
calibration patches it fell to 96.1 % (too few kinds of windows), so the refit takes its own patches. In the
engine (bench_int8.py): the sample's cells 96.0 -> 97.2 %, the test split -0.21 -> -0.12 points.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

REFIT_PATCHES = 1024
RIDGE = 1e-6


def mosaic_windows(images: np.ndarray, stride: int, batch: int = 64) -> Iterator[torch.Tensor]:
    """Float batches of the windows (patch size, every ``stride`` px) of a square mosaic of ``images``
    (uint8 N x C x p x p, laid out row by row)."""
    n, c, p, _ = images.shape
    cols = int(np.ceil(np.sqrt(n)))
    rows = -(-n // cols)
    mosaic = np.zeros((c, rows * p, cols * p), np.uint8)
    for k, im in enumerate(images):
        r, q = divmod(k, cols)
        mosaic[:, r * p : (r + 1) * p, q * p : (q + 1) * p] = im
    corners = [(y, x) for y in range(0, rows * p - p + 1, stride) for x in range(0, cols * p - p + 1, stride)]
    for i in range(0, len(corners), batch):
        wins = np.stack([mosaic[:, y : y + p, x : x + p] for y, x in corners[i : i + batch]])
        yield torch.from_numpy(wins).float()


def logit_error(int8, eager, images: np.ndarray, stride: int) -> float:
    """Mean squared difference between ``int8``'s and ``eager``'s logits on the mosaic windows of ``images``."""
    with torch.inference_mode():
        return float(torch.cat([(int8(x) - eager(x)).pow(2).mean(1) for x in mosaic_windows(images, stride)]).mean())


def refit_classifier(int8, eager, images: np.ndarray, held_out: np.ndarray | None = None) -> tuple[int, bool]:
    """``int8.net.classifier`` (an fp32 ``nn.Linear``) refitted in place on the mosaic windows of ``images``
    against ``eager``'s logits; -> (the number of windows, whether the refit was kept).

    With ``held_out`` patches the refit is kept only where it brings INT8's logits closer to fp32's on their
    mosaic windows (stride half a patch); otherwise the classifier is put back as it was. It helps some
    weights and not others: on the bundled `12d4fcc6` the error on held-out windows fell 0.0096 -> 0.0056,
    on `ab84a5b3` it rose 0.0137 -> 0.0268.
    """
    head = int8.net.classifier
    weight0, bias0 = head.weight.detach().clone(), head.bias.detach().clone()
    stride = images.shape[-1] // 2
    before = logit_error(int8, eager, held_out, stride) if held_out is not None and len(held_out) else None
    feats: list = []
    targets: list = []
    hook = head.register_forward_pre_hook(lambda m, a: feats.append(a[0].detach().double()))
    try:
        with torch.inference_mode():
            for x in mosaic_windows(images, stride):
                int8(x)
                targets.append(eager(x).double())
    finally:
        hook.remove()
    f = torch.cat(feats)
    f = torch.cat([f, torch.ones(len(f), 1, dtype=f.dtype)], 1)
    gram = f.T @ f + RIDGE * len(f) * torch.eye(f.shape[1], dtype=f.dtype)
    w = torch.linalg.solve(gram, f.T @ torch.cat(targets))
    with torch.no_grad():
        head.weight.copy_(w[:-1].T.float())
        head.bias.copy_(w[-1].float())
    if before is not None and logit_error(int8, eager, held_out, stride) >= before:
        with torch.no_grad():
            head.weight.copy_(weight0)
            head.bias.copy_(bias0)
        return len(f), False
    return len(f), True
