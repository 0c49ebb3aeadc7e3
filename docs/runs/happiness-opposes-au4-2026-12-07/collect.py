"""Cache per face (largest per image) of the validation and held-out sets: AU intensities, blendshapes,
labels, classifier probabilities — to score AU-evidence prototype variants offline."""
import sys
from pathlib import Path
import numpy as np
ROOT = Path("/work/main")
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_decision_rule import _items  # noqa: E402
from ferx import Analyzer, facs  # noqa: E402

out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
with Analyzer(explain=None) as analyzer:
    for name, items in _items().items():
        path = out / f"{name.replace(' ', '_').replace('+', 'p')}.npz"
        if path.exists():
            continue
        aus, bs, labels, clf = [], [], [], []
        for image, label, _ in items:
            faces = analyzer.analyze(image).faces
            if not len(faces):
                continue
            f = faces.largest(1)
            aus.append(np.nan_to_num(f.aus[0])); bs.append(f.blendshapes[0]); labels.append(label)
            clf.append(f.expression[0][[f.expression_labels.index(e) for e in facs.EXPRESSIONS]])
        np.savez(path, aus=np.array(aus), bs=np.array(bs), label=np.array(labels), clf=np.array(clf))
        print(name, len(labels), flush=True)
