"""The image-reading AU heads' network (architecture "au-heads"), self-contained.

`AUHeadNet`: the aligned 48×48 grey crop (`ferx.facecrop`) → a shallow trunk (receptive field 13 px:
3×3 convs, two of stride 2) → a (C, 12, 12) feature map; per AU its region mask
(`ferx.aus.heads.region_masks`, from the mesh landmarks) pools the map inside the region only, and a
per-AU two-layer head gives one logit. So an AU's output depends only on pixels near its own
landmarks: it cannot read the whole-face expression.
"""

from __future__ import annotations

import torch
from torch import nn

from ferx.aus.heads import HEAD_AUS
from ferx.train.models import ARCHITECTURES

K = len(HEAD_AUS)


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


@ARCHITECTURES.register("au-heads")
class AUHeadNet(nn.Module):
    """Region-restricted AU heads on a shallow shared trunk.

    forward(image (B, 1, 48, 48) in [-1, 1], masks (B, K, 12, 12)) → logits (B, K).
    Receptive field of a feature cell: 13 px of the crop (convs 3, 3/2, 3, 3/2, then 1×1).

    Args:
        num_aus: K (columns of `ferx.aus.heads.HEAD_AUS`).
        widths: channels of the four 3×3 convs (the 1×1 keeps the last).
        hidden: units of each AU's hidden layer.
    """

    def __init__(self, num_aus: int = K, widths: tuple[int, ...] = (16, 32, 48, 64), hidden: int = 32,
                 in_channels: int = 1) -> None:
        super().__init__()
        w = tuple(widths)
        self.trunk = nn.Sequential(_conv(in_channels, w[0]), _conv(w[0], w[1], stride=2), _conv(w[1], w[2]),
                                   _conv(w[2], w[3], stride=2), _conv(w[3], w[3], k=1))
        self.w1 = nn.Parameter(torch.randn(num_aus, w[3], hidden) * (2.0 / w[3]) ** 0.5)
        self.b1 = nn.Parameter(torch.zeros(num_aus, hidden))
        self.w2 = nn.Parameter(torch.randn(num_aus, hidden) * (1.0 / hidden) ** 0.5)
        self.b2 = nn.Parameter(torch.zeros(num_aus))
        self.num_aus, self.in_channels = num_aus, in_channels

    def forward(self, image: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        feat = self.trunk(image)  # (B, C, 12, 12)
        pooled = torch.einsum("bkhw,bchw->bkc", masks, feat) / (masks.sum(dim=(2, 3))[..., None] + 1e-6)
        hid = torch.relu(torch.einsum("bkc,kcd->bkd", pooled, self.w1) + self.b1)
        return torch.einsum("bkd,kd->bk", hid, self.w2) + self.b2
