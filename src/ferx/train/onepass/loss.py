"""YOLOX training objective: SimOTA label assignment, IoU loss, BCE objectness and class losses.

Ge et al., "YOLOX: Exceeding YOLO Series in 2021" (arXiv:2107.08430), section 2.1 (SimOTA).
Per image and ground-truth face g, candidate cells are those whose centre lies inside g's box or
within 2.5 strides of g's centre. Cost(g, a) = BCE(√(cls·obj), target) + 3·(−log IoU) + 10⁵·[a not
inside both the box and the centre region]. Each face takes its k lowest-cost cells, k = Σ of its
10 best IoUs (at least 1); a cell claimed by several faces goes to the cheapest. Losses over the
N assigned cells: 5·Σ(1 − IoU²) + Σ BCE(obj, assigned) over all cells + Σ BCE(cls, target·IoU), all / N.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ferx.detect.onepass_decode import MAX_LOG_SIZE, grid_points

CENTER_RADIUS = 2.5
IOU_WEIGHT = 5.0


def flatten_and_decode(maps: list[torch.Tensor], input_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Raw maps → (B, A, 5 + C) raw, (B, A, 4) xyxy boxes (differentiable), (A, 3) cell centres + strides.

    Same formulas and stride bookkeeping as `ferx.detect.onepass_decode.decode` (a test checks it).
    """
    raw = torch.cat([m.flatten(2).transpose(1, 2) for m in maps], dim=1)
    cells, strides = grid_points(input_hw, [tuple(m.shape[2:]) for m in maps])
    cells_t = torch.from_numpy(cells).to(raw)
    strides_t = torch.from_numpy(strides).to(raw)[:, None]
    centre = (raw[..., 0:2] + cells_t) * strides_t
    size = torch.exp(raw[..., 2:4].clamp(max=MAX_LOG_SIZE)) * strides_t
    boxes = torch.cat([centre - size / 2, centre + size / 2], dim=-1)
    anchors = torch.cat([(cells_t + 0.5) * strides_t, strides_t], dim=1)
    return raw, boxes, anchors


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, M) IoU of xyxy boxes."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    return inter / (area_a[:, None] + area_b[None, :] - inter).clamp(min=1e-9)


def paired_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N,) IoU of row-aligned xyxy boxes."""
    lt = torch.maximum(a[:, :2], b[:, :2])
    rb = torch.minimum(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    return inter / (area_a + area_b - inter).clamp(min=1e-9)


@torch.no_grad()
def simota(
    boxes: torch.Tensor, obj_logit: torch.Tensor, cls_logit: torch.Tensor, anchors: torch.Tensor,
    gt_boxes: torch.Tensor, gt_targets: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Assign cells to ground-truth faces of one image.

    Args:
        boxes: (A, 4) decoded predictions. obj_logit: (A,). cls_logit: (A, C).
        anchors: (A, 3) cell centre x, y and stride.
        gt_boxes: (G, 4) xyxy. gt_targets: (G, C) class target distributions.
    Returns:
        fg_index (F,) assigned cells, matched (F,) index of their face, iou (F,) prediction IoU.
    """
    cx, cy, stride = anchors[:, 0], anchors[:, 1], anchors[:, 2]
    in_box = (cx[None] > gt_boxes[:, 0:1]) & (cx[None] < gt_boxes[:, 2:3]) & \
             (cy[None] > gt_boxes[:, 1:2]) & (cy[None] < gt_boxes[:, 3:4])
    gcx = (gt_boxes[:, 0:1] + gt_boxes[:, 2:3]) / 2
    gcy = (gt_boxes[:, 1:2] + gt_boxes[:, 3:4]) / 2
    r = CENTER_RADIUS * stride[None]
    in_ctr = ((cx[None] - gcx).abs() < r) & ((cy[None] - gcy).abs() < r)
    cand = (in_box | in_ctr).any(0)
    cand_idx = torch.nonzero(cand).squeeze(1)
    empty = torch.zeros(0, dtype=torch.long, device=boxes.device)
    if len(cand_idx) == 0:
        return empty, empty, boxes.new_zeros(0)
    both = (in_box & in_ctr)[:, cand_idx]
    ious = box_iou(gt_boxes, boxes[cand_idx])
    iou_cost = -torch.log(ious + 1e-8)
    p = (torch.sigmoid(cls_logit[cand_idx]) * torch.sigmoid(obj_logit[cand_idx])[:, None]).sqrt()
    g, a_c = ious.shape
    cls_cost = F.binary_cross_entropy(
        p[None].expand(g, -1, -1).clamp(1e-6, 1 - 1e-6), gt_targets[:, None].expand(-1, a_c, -1), reduction="none"
    ).sum(-1)
    cost = cls_cost + 3.0 * iou_cost + 1e5 * (~both).float()
    k = torch.topk(ious, min(10, a_c), dim=1).values.sum(1).int().clamp(min=1)
    matching = torch.zeros_like(cost, dtype=torch.bool)
    for i in range(g):
        matching[i, torch.topk(cost[i], int(k[i]), largest=False).indices] = True
    contested = matching.sum(0) > 1
    if contested.any():
        best = cost[:, contested].argmin(0)
        matching[:, contested] = False
        matching[best, torch.nonzero(contested).squeeze(1)] = True
    fg = matching.any(0)
    matched = matching[:, fg].float().argmax(0)
    return cand_idx[fg], matched, ious[matched, fg]


def detection_loss(
    maps: list[torch.Tensor], input_hw: tuple[int, int], targets: list[tuple[torch.Tensor, torch.Tensor]],
    cls_pos_weight: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """YOLOX loss of a batch.

    Args:
        maps: the model's raw outputs.
        targets: per image, (G, 4) xyxy boxes in input pixels and (G, C) class target distributions.
        cls_pos_weight: (C,) weight of each class's positive term in the class BCE (rare classes
            up-weighted); None = 1.
    Returns:
        {"loss", "iou", "obj", "cls", "num_fg"} (the parts already divided by the number of assigned cells).
    """
    raw, boxes, anchors = flatten_and_decode(maps, input_hw)
    obj_logit, cls_logit = raw[..., 4], raw[..., 5:]
    obj_target = torch.zeros_like(obj_logit)
    iou_terms, cls_terms = [], []
    num_fg = 0
    for b, (gt_boxes, gt_targets) in enumerate(targets):
        if len(gt_boxes) == 0:
            continue
        fg, matched, ious = simota(boxes[b].detach(), obj_logit[b].detach(), cls_logit[b].detach(), anchors,
                                  gt_boxes, gt_targets)
        if len(fg) == 0:
            continue
        num_fg += len(fg)
        obj_target[b, fg] = 1.0
        iou = paired_iou(boxes[b, fg], gt_boxes[matched])
        iou_terms.append((1.0 - iou**2).sum())
        cls_terms.append(F.binary_cross_entropy_with_logits(
            cls_logit[b, fg], gt_targets[matched] * ious[:, None], reduction="sum", pos_weight=cls_pos_weight))
    n = max(num_fg, 1)
    zero = raw.sum() * 0.0
    iou_loss = (torch.stack(iou_terms).sum() if iou_terms else zero) / n
    cls_loss = (torch.stack(cls_terms).sum() if cls_terms else zero) / n
    obj_loss = F.binary_cross_entropy_with_logits(obj_logit, obj_target, reduction="sum") / n
    total = IOU_WEIGHT * iou_loss + obj_loss + cls_loss
    return {"loss": total, "iou": iou_loss.detach(), "obj": obj_loss.detach(), "cls": cls_loss.detach(),
            "num_fg": torch.tensor(float(num_fg))}
