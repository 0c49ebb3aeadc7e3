"""The runs' tests use the video fixtures (real clips, scenes composed from real photos)."""

from tests.video.conftest import people, scenes  # noqa: F401  (pytest fixtures)
