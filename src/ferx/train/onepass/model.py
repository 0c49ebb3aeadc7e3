"""FER-YOLO-Mamba: a one-pass facial expression detector with a visual state-space neck.

Ma, Lei, Celik, Li, "FER-YOLO-Mamba: Facial Expression Detection and Classification Based on
Selective State Space", arXiv:2405.01828 (2024). Built on YOLOX (Ge et al., "YOLOX: Exceeding YOLO
Series in 2021", arXiv:2107.08430): CSPDarknet backbone, PAFPN neck, anchor-free decoupled head
(box / objectness / class), SimOTA assignment (in `ferx.train.onepass.loss`). The neck's CSP blocks are
replaced by the FER-YOLO-VSS dual-branch block; its global branch is VMamba's SS2D (Liu et al.,
"VMamba: Visual State Space Model", arXiv:2401.10166): a selective scan (Gu & Dao, "Mamba",
arXiv:2312.00752) over the feature map in four directions.

This file is self-contained (torch only) and reads top to bottom:
    selective scan (chunked matrix form + naive reference) → SS2D → VSS dual-branch block and CSP
    block → CSPDarknet → PAFPN → decoupled head → model → registry of named sizes (`create_model`).

Departures from the paper, and why:
  * The scan is written in the state-space-duality (matrix) form of Mamba-2 (Dao & Gu,
    arXiv:2405.21060): the decay A is a scalar per head (channels are grouped in heads of
    `headdim` channels sharing Δ and A; B and C are shared by all channels of a direction, as in
    Mamba). With a per-(channel, state) A as in Mamba-1 the exact chunked form would need a
    (L × L × D × N) tensor; the scalar-A form needs (L × L × heads) and has no token loop, so it
    runs on a CPU and exports to ONNX. Δ, B and C stay input-dependent.
  * The input is one grey channel (`in_channels=1`): ferx's training faces (FER+, lfw-expressions)
    are almost all grey, and a grey model cannot learn "coloured patch = pasted face".
  * Stride bookkeeping: every level's stride is derived from the input and feature-map shapes
    (`level_strides`), the same function for training targets and decoding, and the input sides
    must be multiples of 32; the paper's released code mixes hard-coded strides between the two.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ferx.errors import ConfigError
from ferx.registry import Registry

MAX_STRIDE = 32


# -- selective scan ------------------------------------------------------------------------------
def segsum(a: torch.Tensor) -> torch.Tensor:
    """Segment sums: (..., T) → (..., T, T) with out[..., t, s] = Σ_{k=s+1..t} a_k for s ≤ t, −inf above.

    Built by a masked cumulative sum (not a difference of prefix sums), so long segments of large
    negative values lose no precision.
    """
    t = a.shape[-1]
    idx = torch.arange(t, device=a.device)
    strict = idx[:, None] > idx[None, :]  # [k, s]: k > s
    x = a.unsqueeze(-1).expand(*a.shape, t).masked_fill(~strict, 0.0)  # [..., k, s] = a_k for k > s
    out = x.cumsum(dim=-2)  # [..., t, s] = Σ_{s<k≤t} a_k
    lower = idx[:, None] >= idx[None, :]
    return out.masked_fill(~lower, float("-inf"))


def ssd_scan(u: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, chunk: int = 16) -> torch.Tensor:
    """The linear recurrence h_t = exp(a_t)·h_{t−1} + u_t ⊗ b_t, y_t = h_t · c_t, in chunked matrix form.

    Args:
        u: (B, L, H, P) inputs (already multiplied by Δ), H heads of P channels.
        a: (B, L, H) log decays (Δ·A, ≤ 0).
        b, c: (B, L, N) input and output projections of the state (shared by all heads).
        chunk: tokens per chunk; within a chunk the scan is a masked (chunk × chunk) matrix
            product, across chunks the chunk-end states are combined by a (C × C) decay matrix.
            No Python loop runs over tokens or chunks; every product is a batched matmul.
    Returns:
        y: (B, L, H, P); the state starts at zero.
    """
    bsz, length, heads, hdim = u.shape
    n = b.shape[-1]
    pad = (-length) % chunk
    if pad:  # padding at the end never changes earlier outputs
        u = F.pad(u, (0, 0, 0, 0, 0, pad))
        a = F.pad(a, (0, 0, 0, pad))
        b = F.pad(b, (0, 0, 0, pad))
        c = F.pad(c, (0, 0, 0, pad))
    nc = (length + pad) // chunk
    a = a.reshape(bsz, nc, chunk, heads).permute(0, 3, 1, 2)  # (B, H, C, l)
    u = u.reshape(bsz, nc, chunk, heads, hdim).permute(0, 3, 1, 2, 4)  # (B, H, C, l, P)
    b = b.reshape(bsz, 1, nc, chunk, n)  # broadcast over heads
    c = c.reshape(bsz, 1, nc, chunk, n)
    a_cum = a.cumsum(dim=-1)  # (B, H, C, l): decay from the chunk start to t, inclusive

    # 1. inputs of the same chunk: y_t = Σ_{s≤t} exp(a_cum[t] − a_cum[s]) (c_t·b_s) u_s. Within a
    #    chunk the sums are short, so a difference of prefix sums is exact enough; the mask keeps s ≤ t.
    causal = torch.ones(chunk, chunk, device=u.device).tril().to(u.dtype)
    decay = torch.exp((a_cum.unsqueeze(-1) - a_cum.unsqueeze(-2)).clamp(max=0.0))  # (B, H, C, l, l)
    gram = torch.matmul(c, b.transpose(-1, -2)) * causal  # (B, 1, C, l, l), shared by the heads
    y = torch.matmul(decay * gram, u)  # (B, H, C, l, P)

    # 2. the state each chunk leaves behind from its own inputs
    to_end = torch.exp(a_cum[..., -1:] - a_cum)  # (B, H, C, l)
    states = torch.matmul((u * to_end.unsqueeze(-1)).transpose(-1, -2), b)  # (B, H, C, P, N)

    # 3. states entering each chunk: decayed sums of all earlier chunk states (matrix form; the
    #    segment sums over many chunks use the precise masked cumulative sum)
    totals = F.pad(a_cum[..., -1], (1, 0))  # (B, H, C+1), a zero "chunk" in front
    across = torch.exp(segsum(totals))  # (B, H, C+1, C+1)
    states = F.pad(states, (0, 0, 0, 0, 1, 0))  # (B, H, C+1, P, N), zero initial state
    entering = torch.matmul(across, states.flatten(3)).reshape(bsz, heads, nc + 1, hdim, n)[:, :, :-1]

    # 4. what the entering state contributes inside each chunk
    y = y + torch.matmul(c, entering.transpose(-1, -2)) * torch.exp(a_cum).unsqueeze(-1)
    return y.permute(0, 2, 3, 1, 4).reshape(bsz, nc * chunk, heads, hdim)[:, :length]


def scan_reference(u: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """`ssd_scan` computed step by step over tokens (slow; the tests' reference)."""
    bsz, length, heads, hdim = u.shape
    h = u.new_zeros(bsz, heads, hdim, b.shape[-1])
    out = []
    for t in range(length):
        h = torch.exp(a[:, t])[:, :, None, None] * h + u[:, t, :, :, None] * b[:, t, None, None, :]
        out.append(torch.einsum("bhpn,bn->bhp", h, c[:, t]))
    return torch.stack(out, dim=1)


def selective_scan(
    x: torch.Tensor, dt: torch.Tensor, a_param: torch.Tensor, b: torch.Tensor, c: torch.Tensor,
    d_skip: torch.Tensor, chunk: int = 16,
) -> torch.Tensor:
    """Mamba's selective scan with a scalar decay per head.

    Args:
        x: (B, L, H, P) input sequence. dt: (B, L, H) step sizes Δ (> 0, input-dependent).
        a_param: (H,) or (B, H) continuous decay A (< 0). b, c: (B, L, N) input-dependent B and C.
        d_skip: (H, P) skip weights D.
    Returns:
        (B, L, H, P): y_t = C_t·h_t + D·x_t with h_t = exp(Δ_t A) h_{t−1} + Δ_t x_t B_t.
    """
    a = dt * (a_param if a_param.dim() == 1 else a_param[:, None, :])
    return ssd_scan(x * dt.unsqueeze(-1), a, b, c, chunk) + x * d_skip


# -- SS2D: 2-D selective scan --------------------------------------------------------------------
def _inv_softplus(x: torch.Tensor) -> torch.Tensor:
    return x + torch.log(-torch.expm1(-x))


class SS2D(nn.Module):
    """VMamba's 2-D selective scan: the map is read as 4 sequences (rows and columns, both ways).

    in-projection to (x, z) → depthwise 3×3 conv → SiLU → per direction, input-dependent Δ, B, C
    and a selective scan → the 4 outputs merged back onto the grid and summed → LayerNorm → gate
    SiLU(z) → out-projection. Input and output are channels-last (B, H, W, dim).
    """

    def __init__(self, dim: int, d_state: int = 16, expand: int = 2, headdim: int = 4, chunk: int = 16,
                 directions: int = 4) -> None:
        super().__init__()
        if directions not in (2, 4):
            raise ConfigError(f"SS2D directions must be 2 or 4, got {directions}")
        d_inner = expand * dim
        if d_inner % headdim:
            raise ConfigError(f"SS2D: inner width {d_inner} is not a multiple of headdim {headdim}")
        self.d_inner, self.d_state, self.headdim, self.chunk, self.k = d_inner, d_state, headdim, chunk, directions
        self.heads = d_inner // headdim
        self.in_proj = nn.Linear(dim, 2 * d_inner, bias=False)
        self.dwconv = nn.Conv2d(d_inner, d_inner, 3, padding=1, groups=d_inner)
        # per direction: Δ (one per head), B, C from the token
        self.x_proj = nn.Parameter(torch.randn(directions, d_inner, self.heads + 2 * d_state) / math.sqrt(d_inner))
        dt = torch.exp(torch.empty(directions, self.heads).uniform_(math.log(1e-3), math.log(1e-1)))
        self.dt_bias = nn.Parameter(_inv_softplus(dt))
        self.a_log = nn.Parameter(torch.log(torch.empty(directions, self.heads).uniform_(1.0, 16.0)))
        self.d_skip = nn.Parameter(torch.ones(directions, self.heads, headdim))
        self.out_norm = nn.LayerNorm(d_inner)
        self.out_proj = nn.Linear(d_inner, dim, bias=False)

    def _sequences(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D, H, W) → (B, K, L, D): row-major, column-major, and (K=4) both reversed."""
        rows = x.flatten(2)
        cols = x.transpose(2, 3).flatten(2)
        seqs = [rows, cols] + ([rows.flip(-1), cols.flip(-1)] if self.k == 4 else [])
        return torch.stack(seqs, dim=1).transpose(2, 3)

    def _merge(self, y: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """(B, K, L, D) → (B, H, W, D): each direction's output put back on the grid, summed."""
        bsz, _, length, d = y.shape
        rows, cols = y[:, 0], y[:, 1]
        if self.k == 4:
            rows = rows + y[:, 2].flip(1)
            cols = cols + y[:, 3].flip(1)
        return rows.reshape(bsz, h, w, d) + cols.reshape(bsz, w, h, d).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bsz, h, w, _ = x.shape
        xz = self.in_proj(x)
        x, z = xz[..., : self.d_inner], xz[..., self.d_inner :]
        x = F.silu(self.dwconv(x.permute(0, 3, 1, 2)))  # (B, D, H, W)
        seqs = self._sequences(x)  # (B, K, L, D)
        length = h * w
        proj = torch.matmul(seqs, self.x_proj)  # (B, K, L, heads + 2N)
        dt = F.softplus(proj[..., : self.heads] + self.dt_bias[:, None, :])  # (B, K, L, heads)
        bmat = proj[..., self.heads : self.heads + self.d_state]
        cmat = proj[..., self.heads + self.d_state :]
        a_param = -torch.exp(self.a_log)  # (K, heads)
        fold = bsz * self.k  # directions fold into the batch: each has its own Δ, A, B, C
        # chunk ≈ √L balances the within-chunk (L·chunk) and across-chunk ((L/chunk)²) work; the
        # result does not depend on it
        chunk = max(self.chunk, 1 << round(math.log2(math.sqrt(length))))
        y = selective_scan(
            seqs.reshape(fold, length, self.heads, self.headdim),
            dt.reshape(fold, length, self.heads),
            a_param.unsqueeze(0).expand(bsz, -1, -1).reshape(fold, self.heads),
            bmat.reshape(fold, length, self.d_state),
            cmat.reshape(fold, length, self.d_state),
            self.d_skip.unsqueeze(0).expand(bsz, -1, -1, -1).reshape(fold, 1, self.heads, self.headdim),
            chunk,
        )
        y = self._merge(y.reshape(bsz, self.k, length, self.d_inner), h, w)
        return self.out_proj(self.out_norm(y) * F.silu(z))


# -- blocks --------------------------------------------------------------------------------------
class ConvBNAct(nn.Module):
    """Conv → BatchNorm → SiLU (YOLOX's BaseConv)."""

    def __init__(self, cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1, act: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.03)
        self.act: nn.Module = nn.SiLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, cin: int, cout: int, shortcut: bool = True, expansion: float = 1.0) -> None:
        super().__init__()
        hidden = int(cout * expansion)
        self.conv1 = ConvBNAct(cin, hidden, 1)
        self.conv2 = ConvBNAct(hidden, cout, 3)
        self.add = shortcut and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(x))
        return x + y if self.add else y


class CSPBlock(nn.Module):
    """Cross-stage-partial layer (YOLOX's CSPLayer): two 1×1 paths, n bottlenecks on one, 1×1 fusion."""

    def __init__(self, cin: int, cout: int, n: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        hidden = cout // 2
        self.conv1 = ConvBNAct(cin, hidden, 1)
        self.conv2 = ConvBNAct(cin, hidden, 1)
        self.conv3 = ConvBNAct(2 * hidden, cout, 1)
        self.m = nn.Sequential(*[Bottleneck(hidden, hidden, shortcut) for _ in range(n)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(torch.cat([self.m(self.conv1(x)), self.conv2(x)], dim=1))


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation: global average pool → MLP → sigmoid, scaling the channels."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3), keepdim=True)))))
        return x * w


class VSSBlock(nn.Module):
    """FER-YOLO-VSS dual-branch block.

    Channels split in half. Global half: x + SS2D(LayerNorm(x)). Local half: 1×1 conv → BN → ReLU
    → channel attention → 1×1 conv → BN. The halves are concatenated, fused by a 1×1 conv, and
    added to the input.
    """

    def __init__(self, dim: int, d_state: int = 16, expand: int = 2, headdim: int = 4, chunk: int = 16) -> None:
        super().__init__()
        if dim % 2:
            raise ConfigError(f"VSS block needs an even channel count, got {dim}")
        half = dim // 2
        self.norm = nn.LayerNorm(half)
        self.ss2d = SS2D(half, d_state=d_state, expand=expand, headdim=headdim, chunk=chunk)
        self.local = nn.Sequential(
            nn.Conv2d(half, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(),
            ChannelAttention(half),
            nn.Conv2d(half, half, 1, bias=False), nn.BatchNorm2d(half),
        )
        self.fuse = ConvBNAct(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = x.shape[1] // 2
        g, loc = x[:, :half], x[:, half:]
        g_last = g.permute(0, 2, 3, 1)
        g = (g_last + self.ss2d(self.norm(g_last))).permute(0, 3, 1, 2)
        return x + self.fuse(torch.cat([g, self.local(loc)], dim=1))


class VSSStage(nn.Module):
    """A neck block with the CSP block's signature (cin → cout): 1×1 projection, then n VSS blocks."""

    def __init__(self, cin: int, cout: int, n: int = 1, **vss: int) -> None:
        super().__init__()
        self.proj = ConvBNAct(cin, cout, 1)
        self.blocks = nn.Sequential(*[VSSBlock(cout, **vss) for _ in range(n)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.proj(x))


# -- backbone, neck, head ------------------------------------------------------------------------
class SPPBottleneck(nn.Module):
    def __init__(self, cin: int, cout: int, kernels: tuple[int, ...] = (5, 9, 13)) -> None:
        super().__init__()
        hidden = cin // 2
        self.conv1 = ConvBNAct(cin, hidden, 1)
        self.pools = nn.ModuleList([nn.MaxPool2d(k, 1, k // 2) for k in kernels])
        self.conv2 = ConvBNAct(hidden * (len(kernels) + 1), cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x] + [p(x) for p in self.pools], dim=1))


class CSPDarknet(nn.Module):
    """YOLOX's backbone: stem (stride 2) and four stages (stride 4, 8, 16, 32); returns strides 8/16/32."""

    def __init__(self, depth: float, width: float, in_channels: int = 1) -> None:
        super().__init__()
        base = int(64 * width)
        n = max(round(3 * depth), 1)
        self.stem = ConvBNAct(in_channels, base, 3, 2)
        self.dark2 = nn.Sequential(ConvBNAct(base, base * 2, 3, 2), CSPBlock(base * 2, base * 2, n))
        self.dark3 = nn.Sequential(ConvBNAct(base * 2, base * 4, 3, 2), CSPBlock(base * 4, base * 4, 3 * n))
        self.dark4 = nn.Sequential(ConvBNAct(base * 4, base * 8, 3, 2), CSPBlock(base * 8, base * 8, 3 * n))
        self.dark5 = nn.Sequential(
            ConvBNAct(base * 8, base * 16, 3, 2), SPPBottleneck(base * 16, base * 16),
            CSPBlock(base * 16, base * 16, n, shortcut=False),
        )
        self.channels = (base * 4, base * 8, base * 16)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        c3 = self.dark3(self.dark2(self.stem(x)))
        c4 = self.dark4(c3)
        return c3, c4, self.dark5(c4)


class PAFPN(nn.Module):
    """Top-down then bottom-up path aggregation (YOLOX's PAFPN); `neck` picks the fusion block."""

    def __init__(self, channels: tuple[int, int, int], depth: float, neck: str, vss: dict[str, int]) -> None:
        super().__init__()
        c3, c4, c5 = channels
        n = max(round(3 * depth), 1)

        def block(cin: int, cout: int) -> nn.Module:
            if neck == "vss":
                return VSSStage(cin, cout, n, **vss)
            return CSPBlock(cin, cout, n, shortcut=False)

        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.lateral_conv0 = ConvBNAct(c5, c4, 1)
        self.c3_p4 = block(2 * c4, c4)
        self.reduce_conv1 = ConvBNAct(c4, c3, 1)
        self.c3_p3 = block(2 * c3, c3)
        self.bu_conv2 = ConvBNAct(c3, c3, 3, 2)
        self.c3_n3 = block(2 * c3, c4)
        self.bu_conv1 = ConvBNAct(c4, c4, 3, 2)
        self.c3_n4 = block(2 * c4, c5)

    def forward(self, feats: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> list[torch.Tensor]:
        x3, x4, x5 = feats
        f5 = self.lateral_conv0(x5)
        f4 = self.c3_p4(torch.cat([self.up(f5), x4], 1))
        f4r = self.reduce_conv1(f4)
        p3 = self.c3_p3(torch.cat([self.up(f4r), x3], 1))
        p4 = self.c3_n3(torch.cat([self.bu_conv2(p3), f4r], 1))
        p5 = self.c3_n4(torch.cat([self.bu_conv1(p4), f5], 1))
        return [p3, p4, p5]


class DecoupledHead(nn.Module):
    """YOLOX head: per level a 1×1 stem, then a class branch and a box branch (box + objectness).

    Output per level: (B, 5 + C, h, w) raw values — box offsets (dx, dy, log w, log h) in units of
    the level's stride, objectness logit, C class logits (see `ferx.detect.onepass_decode`).
    `cls_widths` (one per level, default `width`) widens a level's class branch alone: its two 3×3
    convolutions then run at that width, the box branch and the stem stay at `width`.
    """

    def __init__(self, channels: tuple[int, ...], width: int, num_classes: int,
                 cls_widths: tuple[int, ...] | list[int] = ()) -> None:
        super().__init__()
        cw = list(cls_widths) or [width] * len(channels)
        if len(cw) != len(channels) or min(cw) < 1:
            raise ConfigError(f"cls_widths needs one positive width per level ({len(channels)}), got {list(cls_widths)}")
        self.stems = nn.ModuleList([ConvBNAct(c, width, 1) for c in channels])
        self.cls_convs = nn.ModuleList([nn.Sequential(ConvBNAct(width, w, 3), ConvBNAct(w, w, 3)) for w in cw])
        self.reg_convs = nn.ModuleList([nn.Sequential(ConvBNAct(width, width, 3), ConvBNAct(width, width, 3)) for _ in channels])
        self.cls_preds = nn.ModuleList([nn.Conv2d(w, num_classes, 1) for w in cw])
        self.reg_preds = nn.ModuleList([nn.Conv2d(width, 4, 1) for _ in channels])
        self.obj_preds = nn.ModuleList([nn.Conv2d(width, 1, 1) for _ in channels])
        prior = -math.log((1 - 0.01) / 0.01)
        for conv in list(self.cls_preds) + list(self.obj_preds):
            nn.init.constant_(conv.bias, prior)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for i, x in enumerate(feats):
            x = self.stems[i](x)
            reg = self.reg_convs[i](x)
            out.append(torch.cat([self.reg_preds[i](reg), self.obj_preds[i](reg), self.cls_preds[i](self.cls_convs[i](x))], 1))
        return out


# -- model ---------------------------------------------------------------------------------------
NECKS = ("vss", "csp")


class OnePassDetector(nn.Module):
    """Backbone → PAFPN (VSS or CSP blocks) → decoupled head.

    forward(x): x (B, in_channels, H, W) with H, W multiples of 32 → list of 3 maps
    (B, 5 + num_classes, H/s, W/s) for s = 8, 16, 32.

    Args:
        depth, width: YOLOX multipliers (nano/tiny-like: 0.33 / 0.25).
        neck: "vss" (FER-YOLO-VSS blocks) or "csp" (plain CSP blocks, the ablation).
        num_classes: expression labels.
        in_channels: 1 (grey) or 3.
        head_width: channels of the decoupled head (default 256 · width).
        cls_widths: per level (strides 8, 16, 32), the width of the class branch (empty = head_width);
            e.g. [64, 128, 128] widens it for the faces the coarser levels find (issue 26).
        d_state, expand, headdim, chunk: SS2D settings (state size N, inner expansion, channels
            per Δ/A head, smallest scan chunk length; the chunk grows to ≈ √L on long sequences).
    """

    def __init__(self, depth: float = 0.33, width: float = 0.25, neck: str = "vss", num_classes: int = 8,
                 in_channels: int = 1, head_width: int = 0, d_state: int = 16, expand: int = 2, headdim: int = 16,
                 chunk: int = 16, cls_widths: tuple[int, ...] | list[int] = ()) -> None:
        super().__init__()
        if neck not in NECKS:
            raise ConfigError(f"unknown neck {neck!r}; choose from {', '.join(NECKS)}")
        #: everything that defines the architecture: saved with every checkpoint and ONNX sidecar,
        #: `OnePassDetector(**config)` rebuilds it
        self.config: dict[str, Any] = {
            "depth": depth, "width": width, "neck": neck, "num_classes": num_classes, "in_channels": in_channels,
            "head_width": head_width, "d_state": d_state, "expand": expand, "headdim": headdim, "chunk": chunk,
        }
        if cls_widths:  # only when set, so older checkpoints' and sidecars' configs read the same
            self.config["cls_widths"] = [int(w) for w in cls_widths]
        self.in_channels = in_channels
        self.backbone = CSPDarknet(depth, width, in_channels)
        vss = {"d_state": d_state, "expand": expand, "headdim": headdim, "chunk": chunk}
        self.neck = PAFPN(self.backbone.channels, depth, neck, vss)
        self.head = DecoupledHead(self.backbone.channels, head_width or int(256 * width), num_classes, cls_widths)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected input (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if x.shape[2] % MAX_STRIDE or x.shape[3] % MAX_STRIDE:
            raise ValueError(f"input sides must be multiples of {MAX_STRIDE}, got {x.shape[2]}×{x.shape[3]}")
        return self.head(self.neck(self.backbone(x)))


# -- registry ------------------------------------------------------------------------------------
#: Named sizes, registered with each neck: `onepass-{nano,tiny,s}-{vss,csp}`.
SIZES = {"nano": (0.33, 0.25), "tiny": (0.33, 0.375), "s": (0.33, 0.50)}
ARCHITECTURES: Registry[OnePassDetector] = Registry("architecture")
for _size, (_depth, _width) in SIZES.items():
    for _neck in NECKS:
        ARCHITECTURES.register(f"onepass-{_size}-{_neck}", depth=_depth, width=_width, neck=_neck)(OnePassDetector)


def create_model(name: str, **options: object) -> OnePassDetector:
    """Build a registered model, e.g. `create_model("onepass-nano-csp", num_classes=8)`; options
    (constructor arguments) override the name's size and neck; unknown names or options raise ConfigError."""
    return ARCHITECTURES.create(name, **options)
