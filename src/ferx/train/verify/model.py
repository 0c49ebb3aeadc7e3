"""The face verifier's network: a small CNN on the 48-px aligned grey crop → one face logit."""

from __future__ import annotations

import torch
from torch import nn


class VerifierNet(nn.Module):
    """Four conv-BN-ReLU stages (stride-2 pooling after each of the first three), global average
    pooling, one linear logit. ~115 k parameters at the default widths: a fraction of a millisecond
    per face next to the mesh's several.

    Args:
        widths: channels of the four stages.
    """

    def __init__(self, widths: tuple[int, ...] | list[int] = (16, 32, 48, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for i, c in enumerate(widths):
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                       nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, 1)
        self.config = {"widths": list(widths)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 1, 48, 48) in [-1, 1] → (B,) logits."""
        return self.head(self.features(x).mean(dim=(2, 3)))[:, 0]
