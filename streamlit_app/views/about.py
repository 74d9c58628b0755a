"""About the model: the active version, its data, modalities, regularizers and training curves,
in plain words."""

import pandas as pd
import streamlit as st

from interface.i18n import modality_label, plural, t, t_or
from interface.state import active_model_or_stop, service
from interface.widgets import escape_markdown
from streamlit_app import charts

about = service().describe(active_model_or_stop())
names = {modality.name: modality.display_name for modality in about.modalities}

st.title(t("about_title"))
st.markdown(
    t(
        "about_version",
        version=about.version,
        built=f"{about.built:%Y-%m-%d %H:%M}",
        documents=plural("documents", about.documents),
        topics=plural("topics", about.topics),
        background=plural("background_topics", about.background_topics),
    )
)
if about.builtin_collection:
    st.markdown(t("about_builtin_collection"))
else:
    st.markdown(t("about_collection"))
    st.text(str(about.collection))

st.subheader(t("about_config_title"))
ranking = about.ranking
weights = ", ".join(
    f"{escape_markdown(modality_label(m.name, names))} {m.live_weight:g}" for m in about.modalities
)
configuration = [
    t(
        "config_collection",
        name=t("config_builtin_name")
        if about.builtin_collection
        else escape_markdown(about.collection.name),
        documents=plural("config_documents", about.documents),
    ),
    t("config_topics", topics=about.topics),
    t(
        "config_ranking",
        ranking=t(
            f"ranking_{ranking.method}",
            own_weight=ranking.own_weight,
            mu=ranking.dirichlet_mu,
            coordination=ranking.coordination_weight,
            context=ranking.context_weight,
            translations=t(f"translations_{'dictionary' if ranking.lexicon else 'collection'}"),
        ),
    ),
    t("config_backbone", backbone=escape_markdown(about.backbone)),
    t("config_index", index=t_or(f"index_{about.index_method}", about.index_method)),
    t("config_weights", weights=weights),
]
st.markdown("\n".join(f"- {line}" for line in configuration))

st.subheader(t("about_how_title"))
st.markdown(t("about_how"))

st.subheader(t("about_modalities"))
st.dataframe(
    pd.DataFrame(
        [
            {
                t("col_modality"): modality_label(modality.name, names),
                t("col_live_weight"): modality.live_weight,
                t("col_training_weight"): modality.training_weight,
                t("col_vocabulary"): modality.vocabulary,
            }
            for modality in about.modalities
        ]
    ),
    hide_index=True,
)

st.subheader(t("about_training"))
lines = [f"- {t(f'reg_{name}')} (τ = {tau:g})" for name, tau in about.regularizers.items()]
lines = lines or [f"- {t('reg_none')}"]
passes = plural("passes", about.passes)
samples, rounds = about.visual_samples, about.flattening_strength
lines += [
    f"- {t('training_passes', passes=passes, inner=about.document_passes)}",
    f"- {t('training_visual', samples=samples, rounds=rounds)}",
]
st.markdown("\n".join(lines))

if about.scores:
    st.subheader(t("scores_title"))
    st.markdown(t("perplexity_explained"))
    st.plotly_chart(
        charts.training_curves(about.scores, names, "perplexity", t("axis_perplexity"), log_y=True),
        key="perplexity",
    )
    st.markdown(t("sparsity_explained"))
    st.plotly_chart(
        charts.training_curves(about.scores, names, "sparsity", t("axis_share_of_zeros")),
        key="sparsity",
    )
else:
    st.info(t("no_scores"))
