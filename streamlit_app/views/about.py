"""About the model: the active version, its data, modalities, regularizers and training curves,
in plain words."""

from pathlib import Path

import pandas as pd
import streamlit as st

from core.settings import BUILTIN_COLLECTION
from interface.i18n import modality_name, plural, t
from interface.state import active_model_or_stop
from streamlit_app import charts

active = active_model_or_stop()
engine, version = active.engine, active.version
params = engine.params

st.title(t("about_title"))
built = version.finished_at or version.created_at
collection = Path(version.collection)
st.markdown(
    t(
        "about_version",
        version=version.name,
        built=f"{built:%Y-%m-%d %H:%M}",
        documents=plural("documents", version.num_documents),
        topics=plural("topics", version.num_topics),
        background=plural("background_topics", params.num_background_topics),
    )
)
if collection.resolve() == BUILTIN_COLLECTION.resolve():
    st.markdown(t("about_builtin_collection"))
else:
    st.markdown(t("about_collection"))
    st.text(str(collection))

st.subheader(t("about_how_title"))
st.markdown(t("about_how"))

st.subheader(t("about_modalities"))
st.dataframe(
    pd.DataFrame(
        [
            {
                t("col_modality"): f"{modality_name(modality)} ({modality})",
                t("col_live_weight"): active.weights.get(modality, 0.0),
                t("col_training_weight"): params.modality_weights.get(modality, 1.0),
                t("col_vocabulary"): len(engine.model.phi[modality].tokens),
            }
            for modality in engine.modalities
        ]
    ),
    hide_index=True,
)

st.subheader(t("about_training"))
regularizers = [
    (key, tau)
    for key, tau in (
        ("reg_sparse_phi", params.sparse_phi_tau),
        ("reg_sparse_theta", params.sparse_theta_tau),
        ("reg_smooth_phi", params.smooth_phi_tau),
        ("reg_smooth_theta", params.smooth_theta_tau),
        ("reg_decorrelation", params.decorrelation_tau),
    )
    if tau
]
lines = [f"- {t(key)} (τ = {tau:g})" for key, tau in regularizers] or [f"- {t('reg_none')}"]
passes = plural("passes", params.passes)
lines += [
    f"- {t('training_passes', passes=passes, inner=params.document_passes)}",
    f"- {t('training_visual', samples=params.visual_samples, rounds=params.flattening_strength)}",
]
st.markdown("\n".join(lines))

scores = version.scores if isinstance(version.scores, list) else []
if scores:
    st.subheader(t("scores_title"))
    st.markdown(t("perplexity_explained"))
    st.plotly_chart(
        charts.training_curves(scores, "perplexity", t("axis_perplexity"), log_y=True),
        key="perplexity",
    )
    st.markdown(t("sparsity_explained"))
    st.plotly_chart(
        charts.training_curves(scores, "sparsity", t("axis_share_of_zeros")), key="sparsity"
    )
else:
    st.info(t("no_scores"))
