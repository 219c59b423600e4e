"""Per-pixel land-cover network for map mode: the EuroSAT classifier's EfficientNet-Lite0 trunk
(frozen, copied from a trained classifier) + a light FPN decoder that outputs class logits for
every input pixel.

The trunk's classifier, applied to each stride-32 cell (a 1 x 1 convolution: its class activation
map), gives coarse logits that already average to the patch classifier's answer; the decoder adds a
refinement computed from the stride 4/8/16/32 features and is trained on scenes composed from
EuroSAT training patches (models/scenes.py, models/map_train.py). The sum, at stride 4, plus a
stride-2 correction, is upsampled bilinearly to the input grid (no blocks). Input: normalised N x 3 x H x W, any H, W
(padded by reflection to a multiple of 32 inside); output N x K x H x W logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

TRUNK = "tf_efficientnet_lite0"
FEATURE_STAGES = (0, 1, 2, 4, 6)  # timm block indices ending at strides 2, 4, 8, 16, 32
FEATURE_CHANNELS = (16, 24, 40, 112, 320)
FINE_WIDTH = 16  # channels of the stride-2 refinement (kept narrow: it runs on a quarter of the pixels)
ALIGN = 32  # input sides are padded to a multiple of the trunk's output stride


def _conv_bn(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def trunk_stages(t, x: torch.Tensor):
    """``(features at FEATURE_STAGES, the last block's output)`` of a trunk ``t`` with timm's ``conv_stem``,
    ``bn1`` and ``blocks`` (MapNet's trunk, or models/int8_map.TileNet, which holds them as its own children)."""
    x = t.bn1(t.conv_stem(x))
    feats = []
    for i, block in enumerate(t.blocks):
        x = block(x)
        if i in FEATURE_STAGES:
            feats.append(x)
    return feats, x


class MapDecoder(nn.Module):
    """FPN-like decoder: lateral 1 x 1 projections, top-down upsampling, one 3 x 3 conv per level;
    output = refinement logits at stride 4 + the class activation map upsampled from stride 32, then
    a narrow stride-2 level (the trunk's first block) that sharpens class boundaries to 20 m."""

    def __init__(self, num_classes: int, width: int = 64, channels=FEATURE_CHANNELS):
        super().__init__()
        c2, c4, c8, c16, c32 = channels
        self.lat32 = nn.Conv2d(c32 + num_classes, width, 1)
        self.lat16 = nn.Conv2d(c16, width, 1)
        self.lat8 = nn.Conv2d(c8, width, 1)
        self.lat4 = nn.Conv2d(c4, width, 1)
        self.top = _conv_bn(width, width)
        self.smooth16 = _conv_bn(width, width)
        self.smooth8 = _conv_bn(width, width)
        self.smooth4 = _conv_bn(width, width)
        self.out = nn.Conv2d(width, num_classes, 1)
        nn.init.zeros_(self.out.weight)  # starts as the class activation map
        nn.init.zeros_(self.out.bias)
        self.squeeze2 = nn.Conv2d(width, FINE_WIDTH, 1)
        self.lat2 = nn.Conv2d(c2, FINE_WIDTH, 1)
        self.smooth2 = _conv_bn(FINE_WIDTH, FINE_WIDTH)
        self.out2 = nn.Conv2d(FINE_WIDTH, num_classes, 1)
        nn.init.zeros_(self.out2.weight)  # starts as the stride-4 logits upsampled
        nn.init.zeros_(self.out2.bias)

    def forward(self, f2, f4, f8, f16, f32, cam):
        up = F.interpolate
        p = self.top(self.lat32(torch.cat([f32, cam], 1)))
        p = self.smooth16(up(p, size=f16.shape[-2:], mode="nearest") + self.lat16(f16))
        p = self.smooth8(up(p, size=f8.shape[-2:], mode="nearest") + self.lat8(f8))
        p = self.smooth4(up(p, size=f4.shape[-2:], mode="nearest") + self.lat4(f4))
        coarse = up(cam, size=f4.shape[-2:], mode="bilinear", align_corners=False)
        logits4 = self.out(p) + coarse
        p2 = self.smooth2(up(self.squeeze2(p), size=f2.shape[-2:], mode="nearest") + self.lat2(f2))
        return up(logits4, size=f2.shape[-2:], mode="bilinear", align_corners=False) + self.out2(p2)


class MapNet(nn.Module):
    """Frozen classifier trunk + trainable decoder; ``trunk`` holds the whole timm classifier."""

    def __init__(self, num_classes: int = 10, width: int = 64):
        super().__init__()
        import timm

        self.trunk = timm.create_model(TRUNK, pretrained=False, num_classes=num_classes)
        self.decoder = MapDecoder(num_classes, width)
        for p in self.trunk.parameters():
            p.requires_grad_(False)

    freeze_decoder_bn = False  # map_train --freeze-bn: the decoder's batch-norm statistics stay fixed too

    def train(self, mode: bool = True):
        super().train(mode)
        self.trunk.eval()  # frozen: batch-norm statistics stay those of the classifier
        if self.freeze_decoder_bn:
            for m in self.decoder.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    def features(self, x: torch.Tensor):
        """Trunk features at strides 2, 4, 8, 16, 32 and the class activation map (stride 32)."""
        t = self.trunk
        feats, x = trunk_stages(t, x)
        head = t.bn2(t.conv_head(x))
        cls = t.classifier
        cam = F.conv2d(head, cls.weight[:, :, None, None], cls.bias)
        return (*feats, cam)

    def decode(self, feats, size) -> torch.Tensor:
        """Decoder logits upsampled to ``size`` (H, W)."""
        logits = self.decoder(*feats)
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % ALIGN, (-w) % ALIGN
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        with torch.no_grad():
            feats = self.features(x)
        logits = self.decode(feats, x.shape[-2:])
        return logits[..., :h, :w]


def build_map_net(num_classes: int = 10) -> MapNet:
    """The registry's builder (architecture ``tf_efficientnet_lite0_map``)."""
    return MapNet(num_classes)


def from_classifier_state(state: dict, num_classes: int = 10) -> MapNet:
    """A MapNet whose trunk is the trained classifier ``state`` (timm keys), decoder untrained."""
    net = MapNet(num_classes)
    net.trunk.load_state_dict(state, strict=True)
    return net
