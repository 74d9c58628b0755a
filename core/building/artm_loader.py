"""BigARTM, loaded safely: the project imports it only as ``from core.building.artm_loader import
artm``.

BigARTM's generated protobuf code needs the pure-Python protobuf implementation
(``PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python``) with current protobuf releases, and loading
its native library after TensorFlow's aborts the whole process (both bundle protobuf
descriptors). So only processes that train import this module, before TensorFlow: the command
line sets the variable in ``core.__main__``; a process that has not imported protobuf yet gets it
set here. A process where it is too late (TensorFlow already loaded, or protobuf already running
another implementation) gets a clear ``ImportError`` instead of a crash. BigARTM's glog files go
to the temp directory instead of the working directory.
"""

from __future__ import annotations

import os
import sys
import tempfile

PROTOBUF_VARIABLE = "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"


def _check_process() -> None:
    if "tensorflow" in sys.modules:
        raise ImportError(
            "BigARTM cannot be loaded after TensorFlow in one process (the process would abort); "
            "import core.building.topic_model before loading an image backbone, or train in "
            "another "
            "process (`python -m core ...`)"
        )
    if "google.protobuf" not in sys.modules:
        os.environ.setdefault(PROTOBUF_VARIABLE, "python")
    from google.protobuf.internal import api_implementation

    if api_implementation.Type() != "python":
        raise ImportError(
            f"BigARTM needs the pure-Python protobuf, but this process runs protobuf's "
            f"{api_implementation.Type()!r} implementation: set {PROTOBUF_VARIABLE}=python in the "
            "environment before anything imports protobuf (`python -m core` does)"
        )


_check_process()

import artm  # noqa: E402

_log_dir = os.path.join(tempfile.gettempdir(), "topicsearch-bigartm-logs")
os.makedirs(_log_dir, exist_ok=True)
artm.wrapper.LibArtm(
    logging_config=artm.messages.ConfigureLoggingArgs(log_dir=_log_dir, minloglevel=2)
)

__all__ = ["artm"]
