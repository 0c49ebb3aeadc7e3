"""Deprecated: `ferx.train.onepass.data`; `python -m ferx.onepass.data` still runs its command."""
