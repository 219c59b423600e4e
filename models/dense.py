"""Dense mode (experimental prototype, not wired into the engine): the convolutional trunk run once
over a whole tile, its features average-pooled over each window's footprint, then the classifier
head per window; or (``shared_stages``) a hybrid: only the first stages run over the tile, and each
window's footprint of their features goes through the remaining stages and the head.

At strides below the window size, overlapping windows recompute the same convolutions: 16 x at
stride 16 (every pixel is in 16 windows), 64 x at stride 8. Here the trunk runs once per tile at an
output stride (OS) that divides the window stride: the last stride-2 stages of the timm network
run at stride 1 with dilated convolutions (timm's ``output_stride=16`` or ``8``: the same weights),
so a 64 px window covers (64 / OS)² feature cells and the windows of stride ``s`` start every
``s / OS`` cells. Global average pooling of a window = an average pool of that footprint over the
tile's features; the classifier (a linear layer) is then a 1 x 1 convolution: one logit map per
tile, one position per window.

What differs from exact windows: a window's features see the pixels around it (the trunk's
receptive field is larger than 64 px) where an exact window sees zero padding beyond its edges,
and dilation changes what the last stages see. How much the classes agree is measured by
``benchmarks/bench_dense.py`` (docs/notes/engine.md gives the figures); only a network built by
timm with ``output_stride`` support can run densely.
"""

from __future__ import annotations

import numpy as np

TILE_WINDOWS = 16  # windows per tile side; tiles overlap by one window minus a stride


class DenseClassifier:
    """The card's network as a dense trunk + per-window head, for windows of ``stride`` px."""

    def __init__(self, card, stride: int, device="cpu", state=None, shared_stages=None):
        import timm
        import torch

        from .checkpoint import _read_state_dict, verify_weights

        patch = int(card.patch_size)
        if patch % 32 or stride not in (8, 16, 32) or patch % stride:
            raise ValueError(
                f"dense mode needs a window of a multiple of 32 px and a stride of 8, 16 or 32, got {stride}"
            )
        self.stride, self.patch = int(stride), patch
        self.shared = shared_stages
        if shared_stages is not None:  # hybrid: the first stages dense, the rest per window (output stride 32)
            self.os = stage_stride(int(shared_stages))
            if stride % self.os or patch % self.os:
                raise ValueError(
                    f"{shared_stages} shared stages end at stride {self.os}: no whole cells for stride {stride}"
                )
        else:
            self.os = min(int(stride), 32)
        if state is None:
            state = _read_state_dict(verify_weights(card))
        try:
            net = timm.create_model(
                card.architecture,
                pretrained=False,
                num_classes=card.num_classes,
                output_stride=32 if shared_stages is not None else self.os,
            )
        except Exception as exc:
            raise ValueError(f"{card.architecture} cannot run densely ({type(exc).__name__}: {exc})") from None
        net.load_state_dict(state, strict=True)
        self.net = net.eval().to(device).to(memory_format=torch.channels_last)
        self.device = torch.device(device)
        self.mean = torch.as_tensor(list(card.mean), dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.as_tensor(list(card.std), dtype=torch.float32).view(1, -1, 1, 1)
        head = self.net.get_classifier()
        self.head_w = head.weight.detach()[:, :, None, None]
        self.head_b = head.bias.detach()

    def tile_logits(self, tile):
        """``tile``: float 1 x C x H x W on the 0-255 scale, H and W = (n - 1) * stride + patch;
        -> logits K x rows x cols, one per window of the tile (row-major window grid)."""
        import torch
        import torch.nn.functional as F  # noqa: N812

        x = ((tile - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        if self.shared is not None:
            return self._hybrid(x.to(self.device))
        f = self.net.forward_features(x.to(self.device))  # conv_head + bn + act included: 1 x F x h x w
        k, s = self.patch // self.os, self.stride // self.os
        pooled = F.avg_pool2d(f, kernel_size=k, stride=s)
        return F.conv2d(pooled, self.head_w, self.head_b)[0]

    def _hybrid(self, x):
        """The stem and the first ``shared`` stages over the tile, then each window's footprint of
        those features through the remaining stages and the head, as one batch."""
        net = self.net
        f = net.blocks[: self.shared](net.bn1(net.conv_stem(x)))
        w, step = self.patch // self.os, self.stride // self.os
        crops = f[0].unfold(1, w, step).unfold(2, w, step)  # F x rows x cols x w x w
        F_, rows, cols = crops.shape[:3]
        crops = crops.permute(1, 2, 0, 3, 4).reshape(rows * cols, F_, w, w)
        g = net.bn2(net.conv_head(net.blocks[self.shared :](crops.contiguous())))
        return net.forward_head(g).T.reshape(-1, rows, cols)

    def classify(self, image: np.ndarray, tile_windows: int = TILE_WINDOWS) -> np.ndarray:
        """``image``: C x H x W on the 0-255 scale -> softmax K x rows x cols for every window of
        ``stride`` (rows = (H - patch) // stride + 1), tile by tile."""
        import torch

        _, H, W = image.shape
        p, s = self.patch, self.stride
        rows, cols = (H - p) // s + 1, (W - p) // s + 1
        out = None
        with torch.inference_mode():
            for r0 in range(0, rows, tile_windows):
                for c0 in range(0, cols, tile_windows):
                    nr, nc = min(tile_windows, rows - r0), min(tile_windows, cols - c0)
                    y, x = r0 * s, c0 * s
                    tile = image[:, y : y + (nr - 1) * s + p, x : x + (nc - 1) * s + p]
                    t = torch.from_numpy(np.ascontiguousarray(tile, dtype=np.float32))[None]
                    probs = torch.softmax(self.tile_logits(t).float(), 0).cpu().numpy()
                    if out is None:
                        out = np.zeros((probs.shape[0], rows, cols), np.float32)
                    out[:, r0 : r0 + nr, c0 : c0 + nc] = probs[:, :nr, :nc]
        return out


STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)  # EfficientNet(-Lite) stages after the stride-2 stem


def stage_stride(shared_stages: int) -> int:
    """Output stride after the stem and the first ``shared_stages`` stages."""
    s = 2
    for st in STAGE_STRIDES[:shared_stages]:
        s *= st
    return s


def exact_windows(model, image: np.ndarray, stride: int, patch: int = 64, batch: int = 64) -> np.ndarray:
    """The reference: every window cut out and classified on its own -> softmax K x rows x cols."""
    import torch

    _, H, W = image.shape
    rows, cols = (H - patch) // stride + 1, (W - patch) // stride + 1
    pos = [(r, c) for r in range(rows) for c in range(cols)]
    out = None
    with torch.inference_mode():
        for i in range(0, len(pos), batch):
            chunk = pos[i : i + batch]
            x = np.stack([image[:, r * stride : r * stride + patch, c * stride : c * stride + patch] for r, c in chunk])
            probs = torch.softmax(model(torch.from_numpy(x.astype(np.float32))).float(), 1).numpy()
            if out is None:
                out = np.zeros((probs.shape[1], rows, cols), np.float32)
            for (r, c), pr in zip(chunk, probs):
                out[:, r, c] = pr
    return out
