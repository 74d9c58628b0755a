"""The engine: text, vision, corpus, topic model, inference, index, search, metadata, pipeline, CLI.

BigARTM and TensorFlow both bundle protobuf descriptors; loading BigARTM's library after
TensorFlow aborts the process. Importing ``core`` therefore loads BigARTM first (with the
pure-Python protobuf that current protobuf releases need for BigARTM's generated code), so any
later TensorFlow import is safe. ``core`` never imports Streamlit.
"""

import os

os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")

import artm  # noqa: F401  (load order matters, see above)

__all__: list[str] = []
