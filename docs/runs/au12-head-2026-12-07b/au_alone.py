"""AU evidence alone (argmax of the cached AU-evidence probabilities), accuracy and macro-recall per set."""
import sys
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parent))
EXPRESSIONS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
for f in sorted(Path(sys.argv[1]).glob("decision-*.npz")):
    z = np.load(f)
    pred = np.array(EXPRESSIONS)[z["au"].argmax(1)]
    lab = z["label"]
    counted = [e for e in EXPRESSIONS if (lab == e).sum() >= 10]
    macro = np.mean([(pred[lab == e] == e).mean() for e in counted])
    print(f"{f.stem}: AU alone acc {(pred == lab).mean():.4f} macro {macro:.4f} ({len(lab)} faces)")
