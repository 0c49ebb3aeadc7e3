"""`python -m ferx.train.onepass.data`: the box cache and the mosaics of a training config.

    python -m ferx.train.onepass.data boxes configs/onepass-csp.yaml       # the pipeline's lfw boxes (≈ 2 min)
    python -m ferx.train.onepass.data boxes --lfw DIR --ferplus DIR --out runs/cache/onepass/lfw-boxes.json
    python -m ferx.train.onepass.data generate configs/onepass-csp.yaml    # write the mosaics
    python -m ferx.train.onepass.data generate configs/onepass-csp.yaml --splits val-like-test
                                      # validation faces on test-shaped canvases (choosing inference settings)

Paths in the config are relative to the config file (see `ferx.train.runconfig`); --lfw, --ferplus
and --out are relative to the working directory and win over the config's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ferx.errors import ConfigError
from ferx.train.onepass.data.boxes import cache_boxes
from ferx.train.onepass.data.mosaics import SPLIT_NAMES, MosaicConfig
from ferx.train.onepass.data.store import load_split
from ferx.train.runconfig import load_config


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ferx.train.onepass.data")
    sub = ap.add_subparsers(dest="command", required=True)
    b = sub.add_parser("boxes", help="cache the two-stage pipeline's face boxes of lfw-expressions")
    b.add_argument("config", nargs="?", help="training YAML whose `data` section names lfw, ferplus and box_cache")
    b.add_argument("--lfw", help="lfw-expressions folder (default: the config's data.lfw)")
    b.add_argument("--ferplus", help="FER+ folder (default: the config's data.ferplus)")
    b.add_argument("--out", help="box cache JSON (default: the config's data.box_cache)")
    g = sub.add_parser("generate", help="generate (or check) the mosaics of a training config")
    g.add_argument("config", help="training YAML (its `data` section)")
    g.add_argument("--splits", default="train,val,test",
                   help=f"comma-separated, of {', '.join(SPLIT_NAMES)} (val-like-test: validation faces on "
                        f"test-shaped canvases, for choosing inference settings)")
    args = ap.parse_args(argv)
    try:
        cfg = load_config(MosaicConfig, args.config, section="data") if args.config else MosaicConfig()
        if args.command == "boxes":
            lfw, ferplus, out = args.lfw or cfg.lfw, args.ferplus or cfg.ferplus, args.out or cfg.box_cache
            if not lfw or not ferplus:
                raise ConfigError("give a training CONFIG (its data.lfw and data.ferplus) or --lfw and --ferplus")
            res = cache_boxes(lfw, ferplus, Path(out))
            one = sum(len(v["boxes"]) == 1 for v in res["lfw"].values())
            print(f"{len(res['lfw'])} photos, {one} with exactly one face; FER+ box {res['ferplus_box']} "
                  f"(found in {res['ferplus_box_found']}) → {out}")
            return 0
        for split in args.splits.split(","):
            ms = load_split(cfg, split.strip())
            n_faces = sum(len(b) for b in ms.boxes)
            print(f"{split}: {len(ms)} mosaics, {n_faces} faces → {cfg.folder() / split}")
    except (ConfigError, FileNotFoundError) as e:
        print(f"ferx: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
