"""Imports every built-in backend module so that it registers its name.

Backend modules import only numpy/Pillow at module level; their heavy dependencies load when a
backend is constructed.
"""

from ferx.aus import calibrated as _aus_calibrated  # noqa: F401
from ferx.detect import blazeface as _detect_blazeface  # noqa: F401
from ferx.detect import verify as _detect_verify  # noqa: F401
from ferx.detect import yunet as _detect_yunet  # noqa: F401
from ferx.expression import codebook as _expression_codebook  # noqa: F401
from ferx.expression import onnx_classifier as _expression_onnx  # noqa: F401
from ferx.explain import cot as _explain_cot  # noqa: F401
from ferx.landmarks import facemesh as _landmarks_facemesh  # noqa: F401
from ferx.landmarks import mediapipe_tasks as _landmarks_tasks  # noqa: F401
from ferx.detect import onepass as _detect_onepass  # noqa: F401
