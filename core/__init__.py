"""The engine: text, vision, corpus, topic model, inference, index, search, metadata, pipeline, CLI.

BigARTM and TensorFlow both bundle protobuf descriptors; loading BigARTM's native library after
TensorFlow's aborts the process. Importing ``core`` therefore loads BigARTM's library first (with
the pure-Python protobuf that current protobuf releases need for BigARTM's generated code), so
any later TensorFlow import is safe. It also sends BigARTM's glog files to the temp directory
instead of the working directory. ``core`` never imports Streamlit.
"""

import os
import tempfile

os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if os.environ["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] != "python":
    raise ImportError(
        "core needs PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python in the environment before any "
        "protobuf import (BigARTM's generated code requires it); scripts/demo.sh sets it"
    )

import artm

_log_dir = os.path.join(tempfile.gettempdir(), "topicsearch-bigartm-logs")
os.makedirs(_log_dir, exist_ok=True)
_logging = artm.messages.ConfigureLoggingArgs(log_dir=_log_dir, minloglevel=2)
artm.wrapper.LibArtm(logging_config=_logging)

__all__: list[str] = []
