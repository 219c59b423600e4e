"""The classifier network made traceable by FX for the INT8 path (issue 26; used by models/int8_path.py and
models/int8_qat.py).

timm's ``tf_`` networks pad "same" at run time (Python control flow FX cannot trace): :func:`static_padding`
replaces those convolutions by fixed padding for the patch size (identical output; the uneven padding of the
stride-2 layers as a kernel widened by zeros, no pad op) and folds each batch norm into the convolution before
it, leaving its activation (FX then quantizes conv + ReLU6 with no int8 batch norm between).
"""

from __future__ import annotations

import copy

import torch


def static_padding(net: torch.nn.Module, example: torch.Tensor) -> torch.nn.Module:
    """A copy of ``net`` whose timm ``Conv2dSame`` layers pad by fixed amounts for ``example``'s size."""
    from timm.layers.conv2d_same import Conv2dSame
    from timm.layers.padding import get_same_padding

    net = copy.deepcopy(net).eval()
    shapes = {}
    hooks = [
        m.register_forward_pre_hook(lambda m, a: shapes.__setitem__(m, tuple(a[0].shape[-2:])))
        for m in net.modules()
        if isinstance(m, Conv2dSame)
    ]
    with torch.no_grad():
        net(example[:1])
    for h in hooks:
        h.remove()

    def replace(parent):
        for name, m in parent.named_children():
            if not isinstance(m, Conv2dSame):
                replace(m)
                continue
            ih, iw = shapes[m]
            ph = get_same_padding(ih, m.kernel_size[0], m.stride[0], m.dilation[0])
            pw = get_same_padding(iw, m.kernel_size[1], m.stride[1], m.dilation[1])
            setattr(parent, name, _fixed_padding_conv(m, (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)))

    replace(net)
    return _fold_batchnorm(net.eval(), example)


def _fixed_padding_conv(m: torch.nn.Conv2d, ph: tuple[int, int], pw: tuple[int, int]) -> torch.nn.Module:
    """``m`` padding ``ph`` rows above / below and ``pw`` columns left / right, as one ``Conv2d``.

    "Same" padding is uneven for a stride-2 layer on an even size (none before, one after); a
    ``ZeroPad2d`` there ran in fp32 between a dequantize and a quantize (a third of the INT8 model's
    time). Even padding ``p = max`` on both sides with the kernel widened by zeros on the short side
    gives the same sums at the same positions and the same output size."""
    from torch.nn.functional import pad

    dilated = tuple(m.dilation) != (1, 1)
    top, left = (0, 0) if dilated else (max(ph), max(pw))
    weight = (
        m.weight.detach() if dilated else pad(m.weight.detach(), (left - pw[0], left - pw[1], top - ph[0], top - ph[1]))
    )
    conv = torch.nn.Conv2d(
        m.in_channels,
        m.out_channels,
        tuple(weight.shape[-2:]),
        m.stride,
        (top, left),
        m.dilation,
        m.groups,
        m.bias is not None,
    )
    with torch.no_grad():
        conv.weight.copy_(weight)
        if m.bias is not None:
            conv.bias.copy_(m.bias)
    if not dilated or not any(ph + pw):
        return conv
    return torch.nn.Sequential(torch.nn.ZeroPad2d((pw[0], pw[1], ph[0], ph[1])), conv)


def _fold_batchnorm(net: torch.nn.Module, example: torch.Tensor) -> torch.nn.Module:
    """Each timm ``BatchNormAct2d`` folded into the convolution run just before it (eval mode, exact up
    to rounding), leaving its activation: FX fuses conv + ReLU6 then, with no int8 batch norm between."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    order: list = []
    hooks = [m.register_forward_pre_hook(lambda m, a: order.append(m)) for m in net.modules() if not list(m.children())]
    hooks += [
        m.register_forward_pre_hook(lambda m, a: order.append(m))
        for m in net.modules()
        if type(m).__name__ == "BatchNormAct2d"
    ]
    with torch.no_grad():
        net(example[:1])
    for h in hooks:
        h.remove()
    folded = {}
    for i, m in enumerate(order):
        if type(m).__name__ == "BatchNormAct2d" and i > 0 and isinstance(order[i - 1], torch.nn.Conv2d):
            folded[id(order[i - 1])] = m
    owners = {id(m): (parent, name) for parent in net.modules() for name, m in parent.named_children()}
    for conv_id, bn in folded.items():
        parent, name = owners[conv_id]
        conv = getattr(parent, name)
        setattr(parent, name, fuse_conv_bn_eval(conv, bn))
        bn_parent, bn_name = owners[id(bn)]
        setattr(bn_parent, bn_name, torch.nn.Sequential(bn.drop, bn.act))
    return net
