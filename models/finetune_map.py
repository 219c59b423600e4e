"""Fine-tuning a map card (models/map_net.py): its trunk is the EuroSAT window classifier, so the shipped recipe
(models/finetune.py: labelled windows, replay, the input calibration) trains that classifier, and the new map card
gets the fine-tuned trunk -- whose classifier also gives the class activation map the decoder reads -- behind the
parent's decoder, with the new input calibration.

With the default recipe (``epochs`` 0) the trunk stays the parent's and the new card differs from its parent by its
input calibration only: the decoder sees the features it was trained on, of calibrated windows. With ``--epochs N``
the trunk's weights move under a decoder trained on the old ones (benchmarks/results_finetune.md measures the map).
"""

from __future__ import annotations

import copy
from dataclasses import replace

from torch import nn

from .map_net import TRUNK


def trunk_classifier(model: nn.Module) -> nn.Module:
    """The window classifier inside a map model (a LandCoverClassifier over a MapNet): the trunk itself (shared,
    not copied), the map card's normalisation and input calibration, and its card as the trunk's architecture
    (what models/finetune.py and the calibration fit expect)."""
    from .checkpoint import LandCoverClassifier

    card = model.card
    view = replace(card, architecture=TRUNK) if card is not None else None
    calibration = dict(card.input_calibration or {}) if card is not None else None
    mean, std = model.mean.view(-1).tolist(), model.std.view(-1).tolist()
    return LandCoverClassifier(model.net.trunk, mean, std, card=view, calibration=calibration).eval()


def with_trunk(model: nn.Module, classifier: nn.Module) -> nn.Module:
    """A copy of the map model ``model`` whose trunk holds ``classifier``'s network weights (its classifier is the
    class activation map's 1 x 1 convolution, models/map_net.MapNet.features) and whose input calibration is
    ``classifier``'s; the decoder is ``model``'s, unchanged; everything frozen, eval mode."""
    from .checkpoint import LandCoverClassifier

    net = copy.deepcopy(model.net).cpu()
    net.trunk.load_state_dict(classifier.net.state_dict(), strict=True)
    out = LandCoverClassifier(net, model.mean.view(-1).tolist(), model.std.view(-1).tolist(), card=model.card)
    out.calibration = copy.deepcopy(classifier.calibration)
    for p in out.parameters():
        p.requires_grad_(False)
    return out.eval()


def trunk_changed(parent: nn.Module, model: nn.Module) -> bool:
    """True when the two map models' trunks hold different weights (weight training moved them)."""
    import torch

    a, b = parent.net.trunk.state_dict(), model.net.trunk.state_dict()
    return any(not torch.equal(a[k], b[k]) for k in a)
