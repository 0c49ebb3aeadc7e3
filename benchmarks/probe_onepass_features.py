"""Do the one-pass head's class-branch features hold the rare labels? Decoupled classifier re-training
(Kang et al. 2020) as a probe: the shipped model's 64-d class-branch features (the input of
`cls_preds`) at the anchor that best finds each face (IoU ≥ 0.5, the highest face score × IoU), on
issue 26's training mosaics and the training identities' whole photos (read as the stage reads a
close-up: shrunk to 128 px), then a new classifier on them — linear or one hidden layer, plain or
class-balanced cross-entropy — scored on the validation mosaics and photos. Issue 26 (not kept:
docs/results.md). Slow: ~5 minutes of feature extraction on 2 cores.

    cd <folder with runs/cache/onepass> && python PROJECT/benchmarks/probe_onepass_features.py --data PROJECT/configs/onepass-real-labels.yaml
"""

from __future__ import annotations

import argparse

import numpy as np

FEATS = [f"/model/head/cls_convs.{k}/cls_convs.{k}.1/act/Mul_output_0" for k in range(3)]


def extract(data, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 64) features, (N,) labels, (N,) 1 for whole photos, 0 for mosaic faces."""
    import onnx
    import onnxruntime as ort
    from PIL import Image

    from ferx.boxes import box_iou
    from ferx.detect.onepass import model_files
    from ferx.detect.onepass_decode import decode, letterbox
    from ferx.train.onepass.data.store import load_split
    from ferx.train.onepass.photos import photo_set

    model = onnx.load(str(model_files("onepass-nano-csp")[0]))
    for name in FEATS:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def at_faces(grey: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        canvas, scale = letterbox(grey, 640, upscale=False)
        outs = session.run(["p8", "p16", "p32"] + FEATS, {"image": (canvas.astype(np.float32) / 127.5 - 1.0)[None, None]})
        b, obj, _ = decode(outs[:3], (640, 640))
        feats = np.concatenate([f.reshape(f.shape[1], -1).T for f in outs[3:]])
        iou = box_iou(np.asarray(boxes, np.float32) * scale, b[0])
        score = np.where(iou >= 0.5, obj[0][None] * iou, -1.0)
        best = score.argmax(1)
        return feats[best], score[np.arange(len(boxes)), best] > 0

    xs, ys, srcs = [], [], []
    mosaics = load_split(data, split)
    for i in range(len(mosaics)):
        f, ok = at_faces(np.asarray(mosaics.images[i], np.uint8), mosaics.boxes[i])
        xs.append(f[ok]), ys.append(np.asarray(mosaics.labels[i])[ok]), srcs.append(np.zeros(int(ok.sum()), int))
    photos = photo_set(data, split)
    for grey, boxes, labels in zip(photos.images, photos.boxes, photos.labels):
        s = 128 / max(grey.shape)
        small = np.asarray(Image.fromarray(grey).resize((max(1, round(grey.shape[1] * s)), max(1, round(grey.shape[0] * s))),
                                                         Image.BILINEAR))
        f, ok = at_faces(small, boxes * s)
        xs.append(f[ok]), ys.append(np.asarray(labels)[ok]), srcs.append(np.ones(int(ok.sum()), int))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(srcs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="configs/onepass-real-labels.yaml")
    args = ap.parse_args()
    import torch

    from ferx.facs import EXPRESSIONS
    from ferx.train.onepass.train import DetectorTrainConfig
    from ferx.train.runconfig import load_config

    data = load_config(DetectorTrainConfig, args.data).data
    (xt, yt, st), (xv, yv, sv) = extract(data, "train"), extract(data, "val")
    print(f"train faces {len(yt)} ({int(st.sum())} from photos), val faces {len(yv)} ({int(sv.sum())} from photos)")
    mu, sd = xt.mean(0), xt.std(0) + 1e-6
    xt_n, xv_n = torch.tensor((xt - mu) / sd, dtype=torch.float32), torch.tensor((xv - mu) / sd, dtype=torch.float32)
    counts = np.bincount(yt, minlength=len(EXPRESSIONS)).astype(float)
    print("| classifier | class-balanced | set | accuracy | macro-recall | recall per label (≥ 3 faces) |")
    print("|---|---|---|---|---|---|")
    for hidden in (0, 128):
        for balance in (0.0, 1.0):
            torch.manual_seed(0)
            net = torch.nn.Linear(64, len(EXPRESSIONS)) if not hidden else torch.nn.Sequential(
                torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, len(EXPRESSIONS)))
            opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-4)
            weight = torch.tensor((counts.max() / np.maximum(counts, 1)) ** balance, dtype=torch.float32)
            for _ in range(1500):
                loss = torch.nn.functional.cross_entropy(net(xt_n), torch.tensor(yt), weight=weight)
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                for name, x, y, src in (("train", xt_n, yt, st), ("val", xv_n, yv, sv)):
                    pred = net(x).numpy().argmax(1)
                    for s, what in ((1, "photos"), (0, "mosaics")):
                        sel = src == s
                        labels = [c for c in range(len(EXPRESSIONS)) if (y[sel] == c).sum() >= 3]
                        rec = {EXPRESSIONS[c]: float((pred[sel][y[sel] == c] == c).mean()) for c in labels}
                        print(f"| {'linear' if not hidden else f'{hidden} hidden'} | {'yes' if balance else 'no'} | {name} {what} | "
                              f"{np.mean(pred[sel] == y[sel]):.3f} | {np.mean(list(rec.values())):.3f} | "
                              + ", ".join(f"{k} {v:.2f}" for k, v in rec.items()) + " |")


if __name__ == "__main__":
    main()
