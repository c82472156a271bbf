"""Parameter / buffer / key counts, and which state_dict entries the forward pass actually uses.

"Used" is decided by autograd: a parameter is used when the outputs depend on it (its gradient is
not None). A BatchNorm's running statistics and num_batches_tracked are used when its weight is.
Modules that run but whose result is discarded (SMP's MobileNetV2/VGG encoders run one module
group past the last returned feature) and modules that never run (a ResNet's layer4 at
encoder_depth 4, the VGG centre block of SMP's UnetPlusPlus) count as unused."""
from __future__ import annotations

import torch


def used_keys(module: torch.nn.Module, outputs_fn, x: torch.Tensor) -> set[str]:
    params = dict(module.named_parameters())
    names = list(params)
    for p in params.values():
        p.requires_grad_(True)
    outs = outputs_fn(x)
    outs = [o for o in (outs if isinstance(outs, (list, tuple)) else [outs]) if o.requires_grad]
    total = sum(o.float().sum() for o in outs)
    grads = torch.autograd.grad(total, [params[n] for n in names], allow_unused=True)
    used = {n for n, g in zip(names, grads) if g is not None}
    sd_keys = set(module.state_dict().keys())
    for n in list(used):
        prefix, _, param = n.rpartition(".")
        if param == "weight" and f"{prefix}.running_mean" in sd_keys:
            used |= {f"{prefix}.running_mean", f"{prefix}.running_var", f"{prefix}.num_batches_tracked"}
    return used


def counts(module: torch.nn.Module, used: set[str]) -> dict:
    sd = module.state_dict()
    params = dict(module.named_parameters())

    def numel(keys):
        return int(sum(sd[k].numel() for k in keys))

    bn_buf = [k for k in sd if k.endswith(".running_mean") or k.endswith(".running_var")]
    nbt = [k for k in sd if k.endswith(".num_batches_tracked")]
    return {
        "params": numel(params),
        "bn_buffers": numel(bn_buf),
        "keys": len(sd),
        "bn_layers": len(nbt),
        "used_params": numel([k for k in params if k in used]),
        "used_bn_buffers": numel([k for k in bn_buf if k in used]),
        "used_keys": len([k for k in sd if k in used]),
        "used_mapped_keys": len([k for k in sd if k in used and not k.endswith(".num_batches_tracked")]),
        "used_bn_layers": len([k for k in nbt if k in used]),
    }
