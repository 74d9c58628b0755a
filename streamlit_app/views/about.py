"""About the model: the active version, its data, modalities, regularizers and training curves."""

from pathlib import Path

import pandas as pd
import streamlit as st

from streamlit_app import charts
from streamlit_app.state import active_model_or_stop

active = active_model_or_stop()
engine, version = active.engine, active.version
params = engine.params

st.title("About the model")
built = version.finished_at or version.created_at
st.markdown(
    f"Version **{version.name}**, built {built:%Y-%m-%d %H:%M} UTC from "
    f"**{version.num_documents}** documents, **{version.num_topics}** topics "
    f"({params.num_background_topics} of them background)."
)
st.text(f"Collection: {Path(version.collection).name}")

st.subheader("Modalities")
st.dataframe(
    pd.DataFrame(
        [
            {
                "modality": modality,
                "live weight": active.weights.get(modality, 0.0),
                "weight at training": params.modality_weights.get(modality, 1.0),
                "vocabulary": len(engine.model.phi[modality].tokens),
            }
            for modality in engine.modalities
        ]
    ),
    hide_index=True,
)

st.subheader("Regularizers and training")
st.dataframe(
    pd.DataFrame(
        [
            ("sparse phi (subject topics)", params.sparse_phi_tau),
            ("sparse theta (subject topics)", params.sparse_theta_tau),
            ("smooth phi (background topics)", params.smooth_phi_tau),
            ("smooth theta (background topics)", params.smooth_theta_tau),
            ("topic decorrelation", params.decorrelation_tau),
            ("collection passes", params.passes),
            ("passes per document", params.document_passes),
            ("visual words per photo", params.visual_samples),
            ("log-flattening rounds", params.flattening_strength),
        ],
        columns=["setting", "value"],
    ),
    hide_index=True,
)

scores = version.scores if isinstance(version.scores, list) else []
if scores:
    st.subheader("Scores per training pass")
    st.markdown("**Perplexity per modality** (lower is better; log scale)")
    st.plotly_chart(
        charts.training_curves(scores, "perplexity", "perplexity", log_y=True), key="perplexity"
    )
    st.markdown("**Sparsity** (share of zeros in phi per modality, and in theta)")
    st.plotly_chart(charts.training_curves(scores, "sparsity", "share of zeros"), key="sparsity")
else:
    st.info("This version has no per-pass scores recorded.")
