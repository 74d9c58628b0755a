"""The engine: text, vision, corpus, topic model, inference, index, search, metadata, pipeline, CLI.

Importing ``core`` loads nothing heavy: BigARTM only where training happens
(``core.building.artm_loader``, through ``core.building.topic_model``), TensorFlow only when an
image backbone is loaded. ``core`` never imports Streamlit.
"""

__all__: list[str] = []
