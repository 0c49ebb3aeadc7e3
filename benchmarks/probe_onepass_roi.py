"""Do richer frozen features of the shipped one-pass model hold the rare labels? An RoI read as a probe:
for each reference face box, the neck's and the backbone's maps at strides 8, 16 and 32 (the tensors
that feed the head's stems and the neck) pooled over the box with RoIAlign-style bilinear sampling —
the box mean, a 3×3 grid and (stride 8 only) a 5×5 grid — then a new classifier on them: logistic
regression (the objective of scikit-learn's LogisticRegression(C, class_weight="balanced"), solved
with L-BFGS in torch, which the training extra already has) and one hidden layer (class-balanced
cross-entropy), features standardised. Regularisation is picked by the macro-recall of a held-out
quarter of the training photos' identities, then the classifier is refitted on all training faces.
Training: issue 26's training mosaics and the training identities' whole photos read as the stage
reads a close-up (shrunk to 128 px, as probe_onepass_features.py does; the "photos" training set
uses those photos alone); scored on the validation mosaics and photos. A second read ("own size")
letterboxes the whole photos at their own size (350 px, faces ≈ 300 px) instead. Test splits are not
read. Issue 26; features are cached in roi-probe/ beside runs/ (one 640-px pass + pooling per image).

    cd <folder with runs/cache/onepass> && OMP_NUM_THREADS=1 \
        python PROJECT/benchmarks/probe_onepass_roi.py --data PROJECT/configs/onepass-real-labels.yaml

Everything from the cache takes ~45 minutes of one thread (--reads / --choices run a part); the
features, ~13 minutes (72–96 ms per image, nearly all of it the 640-px pass), are read once.

Result (2026-12-07): 23,075 training faces (21,193 mosaic, 1,882 photo), 1,045 validation faces (821
mosaic, 224 photo). On validation photos read as close-ups the 132 fits give macro-recall 0.26–0.56
(median 0.43; the anchor probe's best was 0.387); the fit that the held-out training identities pick
(back8 5×5, mosaics + photos, five labels, logistic) gets 0.418, the best by the validation photos
themselves 0.556 (back8 5×5, mosaics + photos, hidden layer). Sad faces: at most 4 of 11, mostly 0–1.
Photos read at their own size do worse (≤ 0.43). None nears 0.61: the frozen features do not hold
the rare labels well enough for a new head alone.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

#: pooled tensors: short name → (ONNX tensor, stride). neck*: the neck's outputs (the head's stems read
#: them); back*: the backbone's outputs (the neck reads them).
TENSORS: dict[str, tuple[str, int]] = {
    "back8": ("/model/backbone/dark3/dark3.1/conv3/act/Mul_output_0", 8),
    "back16": ("/model/backbone/dark4/dark4.1/conv3/act/Mul_output_0", 16),
    "back32": ("/model/backbone/dark5/dark5.2/conv3/act/Mul_output_0", 32),
    "neck8": ("/model/neck/c3_p3/conv3/act/Mul_output_0", 8),
    "neck16": ("/model/neck/c3_n3/conv3/act/Mul_output_0", 16),
    "neck32": ("/model/neck/c3_n4/conv3/act/Mul_output_0", 32),
}
#: 5×5 grids too, for the finest level only (where a face covers enough cells)
GRID5 = ("neck8", "back8")
CACHE = Path("roi-probe")
SIDE = 640
SPLIT_PARTS = {"train": ("mosaics", "photos128", "photos"), "val": ("mosaics", "photos128", "photos")}

#: feature choices: name → cached keys concatenated
CHOICES: dict[str, list[str]] = {
    "neck8 mean": ["neck8_g1"], "neck8 3×3": ["neck8_g3"], "neck8 5×5": ["neck8_g5"],
    "neck16 mean": ["neck16_g1"], "neck16 3×3": ["neck16_g3"],
    "neck32 mean": ["neck32_g1"], "neck32 3×3": ["neck32_g3"],
    "back8 5×5": ["back8_g5"],
    "neck 3 levels mean": [f"neck{s}_g1" for s in (8, 16, 32)],
    "neck 3 levels 3×3": [f"neck{s}_g3" for s in (8, 16, 32)],
    "backbone 3 levels mean": [f"back{s}_g1" for s in (8, 16, 32)],
    "backbone 3 levels 3×3": [f"back{s}_g3" for s in (8, 16, 32)],
    "all 6 mean": [f"{k}_g1" for k in TENSORS],
    "all 6 3×3": [f"{k}_g3" for k in TENSORS],
}

#: the choices tried on photos read at their own size (faces ≈ 300 px: the coarser levels)
OWN_SIZE_CHOICES = ["neck16 3×3", "neck32 3×3", "neck 3 levels mean", "all 6 mean"]


def open_session() -> Any:
    """The shipped model on onnxruntime (one thread) with the pooled tensors as extra outputs."""
    import onnx
    import onnxruntime as ort

    from ferx.detect.onepass import model_files

    model = onnx.load(str(model_files("onepass-nano-csp")[0]))
    for name, _ in TENSORS.values():
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def roi_align(fmap: np.ndarray, boxes: np.ndarray, stride: int, grid: int) -> np.ndarray:
    """(K, C·grid·grid): each box (canvas px) cut into grid×grid bins, each bin the mean of r×r bilinear
    samples (torchvision's roi_align with aligned=True; r = the bin's side in cells, 2 to 12, the
    largest box's)."""
    c, h, w = fmap.shape
    side = float(np.max(boxes[:, 2:] - boxes[:, :2])) / stride
    r = int(np.clip(np.ceil(side / grid), 2, 12))
    n = grid * r
    t = (np.arange(n) + 0.5) / n
    xs = np.clip((boxes[:, 0:1] + t * (boxes[:, 2:3] - boxes[:, 0:1])) / stride - 0.5, 0, w - 1)  # (K, n)
    ys = np.clip((boxes[:, 1:2] + t * (boxes[:, 3:4] - boxes[:, 1:2])) / stride - 0.5, 0, h - 1)
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (xs - x0)[None, :, None, :], (ys - y0)[None, :, :, None]
    rows = fmap[:, y0] * (1 - fy) + fmap[:, y1] * fy                       # (C, K, n, W)
    k = len(boxes)
    ix0 = np.broadcast_to(x0[None, :, None, :], (c, k, n, n))
    ix1 = np.broadcast_to(x1[None, :, None, :], (c, k, n, n))
    samples = np.take_along_axis(rows, ix0, 3) * (1 - fx) + np.take_along_axis(rows, ix1, 3) * fx
    bins = samples.reshape(c, k, grid, r, grid, r).mean((3, 5))
    return bins.transpose(1, 0, 2, 3).reshape(k, -1)


def read_faces(session: Any, grey: np.ndarray, boxes: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
    """Pooled features of the faces (boxes in image px) of one image letterboxed as the stage does
    (top-left in 640 px, not enlarged), and the seconds the pass and the pooling took."""
    from ferx.detect.onepass_decode import letterbox

    canvas, scale = letterbox(np.ascontiguousarray(grey, np.uint8), SIDE, upscale=False)
    start = time.perf_counter()
    outs = session.run([name for name, _ in TENSORS.values()],
                       {"image": (canvas.astype(np.float32) / 127.5 - 1.0)[None, None]})
    b = np.asarray(boxes, np.float32) * scale
    feats: dict[str, np.ndarray] = {}
    for (key, (_, stride)), out in zip(TENSORS.items(), outs):
        for grid in (1, 3, 5) if key in GRID5 else (1, 3):
            feats[f"{key}_g{grid}"] = roi_align(out[0], b, stride, grid).astype(np.float16)
    return feats, time.perf_counter() - start


def images_of(data: Any, split: str, part: str) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, str]]:
    """(grey, boxes in its px, labels, identity) per image of a part: "mosaics", "photos128" (whole
    photos shrunk to 128 px on the longer side, as the stage reads a close-up), "photos" (own size)."""
    from PIL import Image

    from ferx.train.onepass.data.store import load_split
    from ferx.train.onepass.photos import photo_set

    if part == "mosaics":
        mosaics = load_split(data, split)
        for i in range(len(mosaics)):
            if len(mosaics.boxes[i]):
                yield np.asarray(mosaics.images[i]), np.asarray(mosaics.boxes[i]), np.asarray(mosaics.labels[i]), ""
        return
    photos = photo_set(data, split)
    for grey, boxes, labels, file in zip(photos.images, photos.boxes, photos.labels, photos.files):
        identity = file.rsplit("_", 1)[0]
        if part == "photos128":
            s = 128 / max(grey.shape)
            size = (max(1, round(grey.shape[1] * s)), max(1, round(grey.shape[0] * s)))
            grey, boxes = np.asarray(Image.fromarray(grey).resize(size, Image.BILINEAR)), boxes * s
        yield grey, boxes, np.asarray(labels), identity


def extract(session: Any, data: Any, split: str, part: str) -> dict[str, np.ndarray]:
    """A part's pooled features per face, labels, identities and per-image seconds; cached in CACHE."""
    path = CACHE / f"{split}-{part}.npz"
    if path.is_file():
        with np.load(path) as z:
            return dict(z)
    chunks: dict[str, list[np.ndarray]] = {}
    labels, groups, secs = [], [], []
    for grey, boxes, lab, identity in images_of(data, split, part):
        feats, sec = read_faces(session, grey, boxes)
        for key, value in feats.items():
            chunks.setdefault(key, []).append(value)
        labels.append(lab), groups.extend([identity] * len(lab)), secs.append(sec)
    out = {k: np.concatenate(v) for k, v in chunks.items()}
    out.update(labels=np.concatenate(labels).astype(np.int64), groups=np.asarray(groups), secs=np.asarray(secs))
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(CACHE / f"{split}-{part}.tmp.npz", **out)
    (CACHE / f"{split}-{part}.tmp.npz").replace(path)
    print(f"{split} {part}: {len(secs)} images, {len(out['labels'])} faces, "
          f"{np.mean(secs) * 1000:.0f} ms per image (pass + pooling)", flush=True)
    return out


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-face weights n / (k · n_c) (scikit-learn's class_weight="balanced")."""
    counts = np.bincount(y, minlength=n_classes).astype(float)
    present = counts > 0
    per = np.where(present, len(y) / (present.sum() * np.maximum(counts, 1)), 0.0)
    return per[y]


def fit_logreg(x: Any, y: Any, w: Any, n_classes: int, c: float) -> Any:
    """Multinomial logistic regression: mean(w · CE) + ||W||² / (2 C n) (LogisticRegression's objective
    divided by C·n; the bias not penalised), L-BFGS to convergence (at most 300 iterations)."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Linear(x.shape[1], n_classes)
    torch.nn.init.zeros_(net.weight), torch.nn.init.zeros_(net.bias)
    opt = torch.optim.LBFGS(net.parameters(), lr=1.0, max_iter=300, history_size=20,
                            tolerance_grad=1e-6, tolerance_change=1e-9, line_search_fn="strong_wolfe")

    def closure() -> Any:
        opt.zero_grad()
        loss = (torch.nn.functional.cross_entropy(net(x), y, reduction="none") * w).mean()
        loss = loss + (net.weight ** 2).sum() / (2 * c * len(y))
        loss.backward()
        return loss

    opt.step(closure)
    return net


def fit_mlp(x: Any, y: Any, w: Any, n_classes: int, decay: float, epochs: int = 15) -> Any:
    """One hidden layer of 256 (input dropout 0.2, hidden dropout 0.5), class-balanced cross-entropy,
    AdamW (lr 1e-3, weight decay `decay`), batches of 256."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(x.shape[1], 256), torch.nn.ReLU(),
                              torch.nn.Dropout(0.5), torch.nn.Linear(256, n_classes))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=decay)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(y))
        for s in range(0, len(y), 256):
            i = order[s : s + 256]
            loss = (torch.nn.functional.cross_entropy(net(x[i]), y[i], reduction="none") * w[i]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


def stack(parts: list[dict[str, np.ndarray]], keys: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features (float32) of the chosen keys, labels and identities of several parts, faces stacked."""
    x = np.concatenate([np.concatenate([p[k] for k in keys], 1) for p in parts]).astype(np.float32)
    return x, np.concatenate([p["labels"] for p in parts]), np.concatenate([p["groups"] for p in parts])


def figures(net: Any, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """label_figures (accuracy, per-label recall, macro-recall over the five) of a fitted classifier."""
    import torch

    from ferx.facs import EXPRESSIONS
    from ferx.train.onepass.evaluate import label_figures

    with torch.no_grad():
        pred = net(torch.from_numpy(x)).numpy().argmax(1)
    return label_figures(y, pred, EXPRESSIONS)


def fit_and_score(kind: str, train: tuple, dev_mask: np.ndarray, evals: dict[str, tuple],
                  n_labels: int) -> dict[str, Any]:
    """Pick the regularisation on the held-out training identities (dev), refit on all training faces,
    score every evaluation set. train: (x, y, is_photo); faces with labels ≥ n_labels are left out of
    the fit (n_labels 5: a head over the five macro labels alone)."""
    import torch

    x, y, photo = train
    grid = (1e-4, 1e-3, 1e-2, 1e-1, 1.0) if kind == "logreg" else (1e-2, 0.3, 3.0)
    keep = y < n_labels

    def fit(sel: np.ndarray, h: float) -> tuple[Any, np.ndarray, np.ndarray]:
        sel = sel & keep
        mu, sd = x[sel].mean(0), x[sel].std(0) + 1e-6
        xt, yt = torch.from_numpy((x[sel] - mu) / sd), torch.from_numpy(y[sel])
        wt = torch.from_numpy(class_weights(y[sel], n_labels)).float()
        return (fit_logreg if kind == "logreg" else fit_mlp)(xt, yt, wt, n_labels, h), mu, sd

    dev_scores = {}
    for h in grid:
        net, mu, sd = fit(~dev_mask, h)
        dev_scores[h] = figures(net, (x[dev_mask] - mu) / sd, y[dev_mask])["macro_recall"]
    best = max(grid, key=lambda h: dev_scores[h])
    net, mu, sd = fit(np.ones(len(y), bool), best)
    out: dict[str, Any] = {"hyper": best, "dev_macro_recall": dev_scores,
                           "train_photos": figures(net, (x[photo] - mu) / sd, y[photo])}
    for name, (xe, ye) in evals.items():
        out[name] = figures(net, (xe - mu) / sd, ye)
    return out


def dev_identities(groups: np.ndarray, share: float = 0.25, seed: int = 0) -> np.ndarray:
    """Mask of the training photo faces whose identity is in a seeded random quarter of identities."""
    ids = sorted({g for g in groups if g})
    rng = np.random.default_rng(seed)
    held = set(rng.choice(ids, size=max(1, round(len(ids) * share)), replace=False).tolist())
    return np.array([g in held for g in groups])


def row(read: str, choice: str, dims: int, trainset: str, kind: str, r: dict[str, Any]) -> str:
    """One markdown table row of a result."""
    vp, per = r["val_photos"], r["val_photos"]["per_label"]
    rec = " / ".join(f"{per[k]['recall']:.2f}" if k in per else "–" for k in ("sadness", "anger", "surprise"))
    return (f"| {read} | {choice} | {dims} | {trainset} | {kind} {r['hyper']:g} | {vp['accuracy']:.3f} / "
            f"{vp['macro_recall']:.3f} | {rec} | {r['val_mosaics']['macro_recall']:.3f} | "
            f"{max(r['dev_macro_recall'].values()):.3f} | {r['train_photos']['macro_recall']:.3f} |")


def training_sets(tm: tuple, tp: tuple) -> dict[str, tuple[tuple, np.ndarray, int]]:
    """Training set name → ((x, y, is_photo), dev mask, labels fitted), from the mosaics' and the
    photos' (x, y, identities)."""
    (xm, ym, _), (xp, yp, gp) = tm, tp
    dev_p = dev_identities(gp)
    photo = np.r_[np.zeros(len(ym), bool), np.ones(len(yp), bool)]
    both = ((np.concatenate([xm, xp]), np.concatenate([ym, yp]), photo), np.r_[np.zeros(len(ym), bool), dev_p])
    alone = ((xp, yp, np.ones(len(yp), bool)), dev_p)
    return {"mosaics + photos": (*both, 8), "mosaics + photos, 5 labels": (*both, 5),
            "photos": (*alone, 8), "photos, 5 labels": (*alone, 5)}


def too_slow(kind: str, trainset: str, dims: int) -> bool:
    """Fits left out on one thread: either classifier over > 2,400 features on the 23,000 mosaic +
    photo faces (minutes each)."""
    return trainset.startswith("mosaics") and dims > 2400


def run_read(read: str, photo_part: str, feats: dict[str, dict[str, np.ndarray]], choices: list[str],
             results: list) -> None:
    """Each feature choice × training set × classifier for one read of the whole photos."""
    tm, tp = feats["train-mosaics"], feats[f"train-{photo_part}"]
    vm, vp = feats["val-mosaics"], feats[f"val-{photo_part}"]
    for choice in choices:
        keys = CHOICES[choice]
        evals = {"val_photos": stack([vp], keys)[:2], "val_mosaics": stack([vm], keys)[:2]}
        sets = training_sets(stack([tm], keys), stack([tp], keys))
        dims = int(evals["val_photos"][0].shape[1])
        for trainset, (train, dev, n_labels) in sets.items():
            for kind in ("logreg", "mlp"):
                if too_slow(kind, trainset, dims):
                    continue
                start = time.perf_counter()
                r = fit_and_score(kind, train, dev, evals, n_labels)
                r.update(read=read, choice=choice, dims=dims, trainset=trainset, kind=kind,
                         seconds=time.perf_counter() - start)
                results.append(r)
                print(row(read, choice, dims, trainset, kind, r), flush=True)
                path = CACHE / f"results-{read.replace(' ', '-')}.json"
                path.write_text(json.dumps([r for r in results if r["read"] == read], indent=1, default=str))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="configs/onepass-real-labels.yaml")
    ap.add_argument("--reads", nargs="+", default=["shrunk to 128", "own size"], choices=["shrunk to 128", "own size"])
    ap.add_argument("--choices", nargs="+", choices=list(CHOICES), help="only these feature choices")
    args = ap.parse_args()
    import torch

    from ferx.train.onepass.train import DetectorTrainConfig
    from ferx.train.runconfig import load_config

    torch.set_num_threads(1)
    data = load_config(DetectorTrainConfig, args.data).data
    session = open_session()
    feats = {f"{split}-{part}": extract(session, data, split, part)
             for split, parts in SPLIT_PARTS.items() for part in parts}
    for key, f in feats.items():
        print(f"{key}: {len(f['labels'])} faces, {f['secs'].mean() * 1000:.0f} ms per image, "
              f"labels {np.bincount(f['labels'], minlength=8).tolist()}")
    print("| photos read | features | dims | trained on | classifier (C or decay) | val photos acc. / macro-recall | "
          "val photos sadness / anger / surprise | val mosaics macro-recall | dev macro-recall | "
          "train photos macro-recall |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    results: list[dict[str, Any]] = []
    for read in args.reads:
        shrunk = read == "shrunk to 128"
        choices = [c for c in (CHOICES if shrunk else OWN_SIZE_CHOICES) if not args.choices or c in args.choices]
        run_read(read, "photos128" if shrunk else "photos", feats, choices, results)


if __name__ == "__main__":
    main()
