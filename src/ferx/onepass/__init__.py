"""Deprecated home of the one-pass detector, kept for its command `python -m ferx.onepass.data`. The
inference stage is now `ferx.detect.onepass` (with `ferx.detect.onepass_decode`), like every other
backend under its stage's folder; the training family (data, model, loss, task, evaluation, export)
is `ferx.train.onepass`."""
