"""Compact CNNs for 48×48 face crops that explain themselves in the forward pass.

Every architecture returns, besides the class logits:
  * `cam` (B, C, h, w): class activation maps (Zhou et al., "Learning Deep Features for
    Discriminative Localization", CVPR 2016) — the last feature map weighted by the classifier's
    weights, which is exact for a global-average-pool + linear head, so no gradients are needed;
  * `attention` (B, h', w'): the channel mean of a chosen late feature map, as in Belharbi et al.
    (FG 2024), whose alignment with the AU heatmap the training loss rewards.
Both export to ONNX with the logits, so the analyzer gets spatial evidence at no extra cost.

Architectures register by name in `ARCHITECTURES`; `create_model(name, **options)` builds one.
"""

from __future__ import annotations

import torch
from torch import nn

from ferx.registry import Registry

ARCHITECTURES: Registry[nn.Module] = Registry("architecture")


def create_model(name: str, **options: object) -> nn.Module:
    return ARCHITECTURES.create(name, **options)


class BasicBlock(nn.Module):
    """He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016): two 3×3 convs + skip."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + self.skip(x))


# the deeper variant (issue 14): the only one of `benchmarks/bench_classifier_variants.py`'s
# candidates within 2 ms per face on one thread (1.81 ms against 1.20; ×1.33 wider: 2.35 ms)
@ARCHITECTURES.register("resnet-fer-deep", blocks=(3, 3, 3))
@ARCHITECTURES.register("resnet-fer")
class FERResNet(nn.Module):
    """A small ResNet for 48×48 crops.

    Layout (48×48 input): stem 3×3 conv → 3×3 stride-2 conv (24×24) → stages of BasicBlocks at
    24×24, 12×12, 6×6 → global average pool → dropout → linear.

    Args:
        num_classes: number of labels.
        in_channels: 1 for grey crops (FER+), 3 for colour.
        widths: channels of the stem and of each stage.
        blocks: BasicBlocks per stage.
        attention_stage: index of the stage whose output's channel mean is the attention map
            (default: the last, 6×6 for a 48×48 input; -2 gives 12×12).
        dropout: before the classifier.
    """

    def __init__(
        self,
        num_classes: int = 8,
        in_channels: int = 1,
        widths: tuple[int, ...] = (24, 32, 64, 128),
        blocks: tuple[int, ...] = (2, 2, 2),
        attention_stage: int = -1,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        if len(widths) != len(blocks) + 1:
            raise ValueError(f"widths needs one entry for the stem plus one per stage; got {widths} for {blocks}")
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True),
            nn.Conv2d(widths[0], widths[1], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[1]), nn.ReLU(inplace=True),
        )
        stages = []
        cin = widths[1]
        for i, (cout, n) in enumerate(zip(widths[1:], blocks)):
            layers = [BasicBlock(cin if j == 0 else cout, cout, 2 if (j == 0 and i > 0) else 1) for j in range(n)]
            stages.append(nn.Sequential(*layers))
            cin = cout
        self.stages = nn.ModuleList(stages)
        self.attention_stage = attention_stage % len(stages)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(widths[-1], num_classes)
        self.num_classes = num_classes
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x: (B, in_channels, H, W) normalised crops → logits (B, C), cam (B, C, h, w), attention (B, h', w')."""
        y = self.stem(x)
        attention = None
        for i, stage in enumerate(self.stages):
            y = stage(y)
            if i == self.attention_stage:
                attention = y.mean(dim=1)
        pooled = y.mean(dim=(2, 3))
        logits = self.fc(self.dropout(pooled))
        cam = torch.einsum("kc,bchw->bkhw", self.fc.weight, y) + self.fc.bias[None, :, None, None]
        assert attention is not None
        return {"logits": logits, "cam": cam, "attention": attention}
