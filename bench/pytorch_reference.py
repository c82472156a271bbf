#!/usr/bin/python3
"""PyTorch CPU reference for `npm run bench` (optional; needs Debian's python3-torch).

Builds the same networks as segmentation-models-tfjs (conv3x3 -> BN -> ReLU blocks, 2x2 max-pool,
2x2/stride-2 transposed-conv upsampling, 1x1 sigmoid head; UNet 3+ with full-scale skips and
bilinear resizing) in PyTorch, on --threads threads, and times a forward pass (1 image, eval mode,
no grad) and a train step (batch B, Adam 1e-3, binary cross-entropy).

`decoder/encoder` models (`unet/resnet34`, `unet++/resnet34`) are segmentation_models.pytorch's
Unet / UnetPlusPlus with SMP's defaults (3 input channels, decoder channels 256..16, depth 5) and
a sigmoid head, built by scripts/smpref (a module-for-module reproduction of SMP; SMP itself is not
needed).

Usage: /usr/bin/python3 bench/pytorch_reference.py --models unet-padded,unet/resnet34 --size 128 --batch 4 \
       --filters 16,32,64,128,256 [--forward-reps 5] [--steps 5] [--threads 1]
Prints one JSON object: {"torch": version, "threads": n, "results": {model: {...}}}.
"""
import argparse
import json
import os
import statistics
import sys
import time

# torch.set_num_threads() does not cover the BLAS library's own thread pool (Debian's torch uses
# OpenBLAS), so pin every pool before torch loads: the reference must really run on N threads.
_threads = sys.argv[sys.argv.index('--threads') + 1] if '--threads' in sys.argv else '1'
for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[_var] = _threads

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def block(cin, cout, convs=2, padding=1):
    layers = []
    for i in range(convs):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=padding),
                   nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def center_crop(t, h, w):
    dh = (t.shape[2] - h) // 2
    dw = (t.shape[3] - w) // 2
    return t[:, :, dh:dh + h, dw:dw + w]


class UNet(nn.Module):
    """Classic (valid convs, centre-cropped skips) or padded ('same') UNet."""

    def __init__(self, filters, in_ch=1, classes=1, padded=True):
        super().__init__()
        pad = 1 if padded else 0
        self.padded = padded
        self.enc = nn.ModuleList()
        c = in_ch
        for f in filters[:-1]:
            self.enc.append(block(c, f, padding=pad))
            c = f
        self.bottleneck = block(c, filters[-1], padding=pad)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        c = filters[-1]
        for f in reversed(filters[:-1]):
            self.up.append(nn.ConvTranspose2d(c, f, 2, stride=2))
            self.dec.append(block(2 * f, f, padding=pad))
            c = f
        self.head = nn.Conv2d(c, classes, 1)

    def forward(self, x):
        skips = []
        for e in self.enc:
            x = e(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
            x = up(x)
            if not self.padded:
                skip = center_crop(skip, x.shape[2], x.shape[3])
            x = dec(torch.cat([skip, x], 1))
        return torch.sigmoid(self.head(x))


class UNetPP(nn.Module):
    """UNet++ (nested dense skips), transposed-conv upsampling, no deep supervision."""

    def __init__(self, filters, in_ch=1, classes=1):
        super().__init__()
        self.depth = len(filters) - 1
        self.nodes = nn.ModuleDict()
        self.ups = nn.ModuleDict()
        for i, f in enumerate(filters):
            self.nodes[f'{i}_0'] = block(in_ch if i == 0 else filters[i - 1], f)
        for j in range(1, self.depth + 1):
            for i in range(0, self.depth - j + 1):
                self.ups[f'{i}_{j}'] = nn.ConvTranspose2d(filters[i + 1], filters[i], 2, stride=2)
                self.nodes[f'{i}_{j}'] = block(filters[i] * (j + 1), filters[i])
        self.head = nn.Conv2d(filters[0], classes, 1)

    def forward(self, x):
        X = {}
        for i in range(self.depth + 1):
            x = self.nodes[f'{i}_0'](x if i == 0 else F.max_pool2d(X[(i - 1, 0)], 2))
            X[(i, 0)] = x
        for j in range(1, self.depth + 1):
            for i in range(0, self.depth - j + 1):
                parts = [X[(i, k)] for k in range(j)] + [self.ups[f'{i}_{j}'](X[(i + 1, j - 1)])]
                X[(i, j)] = self.nodes[f'{i}_{j}'](torch.cat(parts, 1))
        return torch.sigmoid(self.head(X[(0, self.depth)]))


class UNet3Plus(nn.Module):
    """UNet 3+ (full-scale skips, bilinear resizing), single output."""

    def __init__(self, filters, in_ch=1, classes=1, cat=None):
        super().__init__()
        L = len(filters)
        self.L = L
        cat = cat or filters[0]
        self.enc = nn.ModuleList([block(in_ch if s == 0 else filters[s - 1], filters[s]) for s in range(L)])
        self.parts = nn.ModuleDict()
        self.fuse = nn.ModuleDict()
        for d in range(L - 1, 0, -1):
            for s in range(1, L + 1):
                cin = filters[s - 1] if s <= d else (filters[L - 1] if s == L else cat * L)
                self.parts[f'{d}_{s}'] = block(cin, cat, convs=1)
            self.fuse[str(d)] = block(cat * L, cat * L, convs=1)
        self.head = nn.Conv2d(cat * L, classes, 3, padding=1)

    def forward(self, x):
        L = self.L
        enc = {}
        for s in range(1, L + 1):
            if s > 1:
                x = F.max_pool2d(x, 2, ceil_mode=True)
            x = self.enc[s - 1](x)
            enc[s] = x
        dec = {L: enc[L]}
        for d in range(L - 1, 0, -1):
            parts = []
            for s in range(1, L + 1):
                if s < d:
                    k = 2 ** (d - s)
                    src = F.max_pool2d(enc[s], k, k, ceil_mode=True)
                elif s == d:
                    src = enc[s]
                else:
                    src = F.interpolate(dec[s], scale_factor=2 ** (s - d), mode='bilinear', align_corners=False)
                parts.append(self.parts[f'{d}_{s}'](src))
            dec[d] = self.fuse[str(d)](torch.cat(parts, 1))
        return torch.sigmoid(self.head(dec[1]))


# SMP's classes for our decoder names (the classic and padded UNet are the same model on an encoder).
SMP_DECODERS = {'unet': 'Unet', 'unet-padded': 'Unet', 'unet++': 'UnetPlusPlus'}


def build_smp(decoder, encoder):
    """SMP's model for `decoder/encoder` from scripts/smpref (imported by path), sigmoid head."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts'))
    from smpref.models import MODEL_CLASSES  # noqa: E402
    if decoder not in SMP_DECODERS:
        raise SystemExit(f'pytorch_reference: no SMP model for decoder {decoder!r} (known: {", ".join(SMP_DECODERS)})')
    return MODEL_CLASSES[SMP_DECODERS[decoder]](encoder_name=encoder, in_channels=3, classes=1, activation='sigmoid')


def in_channels(name):
    return 3 if '/' in name else 1


def build(name, filters):
    if '/' in name:
        return build_smp(*name.split('/', 1))
    if name == 'unet-padded':
        return UNet(filters, padded=True)
    if name == 'unet':
        return UNet(filters, padded=False)
    if name == 'unet++':
        return UNetPP(filters)
    if name == 'unet3+':
        return UNet3Plus(filters)
    raise SystemExit(f'pytorch_reference: unknown model {name!r}')


def median_ms(fn, reps):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def run(name, size, batch, filters, forward_reps, steps):
    torch.manual_seed(0)
    model = build(name, filters)
    params = sum(p.numel() for p in model.parameters())
    x1 = torch.rand(1, in_channels(name), size, size)
    model.eval()
    with torch.no_grad():
        model(x1)  # warm-up
        fwd = median_ms(lambda: model(x1), forward_reps)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, in_channels(name), size, size)
    with torch.no_grad():
        y = (torch.rand_like(model(x)) > 0.5).float()
    loss_fn = nn.BCELoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    step()
    step()  # warm-up
    train = median_ms(step, steps)
    return {'params': params, 'forwardMs': fwd, 'trainStepMs': train}


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--models', default='unet-padded')
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--sizes', default='', help='per-model sizes, e.g. unet=124 (overrides --size)')
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--filters', default='16,32,64,128,256')
    p.add_argument('--forward-reps', type=int, default=5)
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--threads', type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    filters = [int(f) for f in a.filters.split(',')]
    sizes = dict(kv.split('=') for kv in a.sizes.split(',') if kv)
    results = {}
    for name in a.models.split(','):
        size = int(sizes.get(name, a.size))
        results[name] = run(name, size, a.batch, filters, a.forward_reps, a.steps)
        results[name]['size'] = size
    json.dump({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'results': results}, sys.stdout)
    print()


if __name__ == '__main__':
    main()
