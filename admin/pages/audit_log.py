"""The audit log: who did what, when, and whether it was allowed; what changed, from what to
what, in the reader's language."""

import pandas as pd
import streamlit as st

from admin.audit_sentences import audit_sentence
from admin.auth import audit_log
from admin.ui import db, require
from interface.i18n import t, t_or

require("users", t("audit_title"))
with db() as session:
    entries = audit_log(session, limit=500)
st.dataframe(
    pd.DataFrame(
        {
            t("col_when"): entry.at.strftime("%Y-%m-%d %H:%M:%S"),
            t("col_who"): entry.user_name,
            t("col_action"): t_or(f"action_{entry.action}", entry.action),
            t("col_outcome"): t_or(f"outcome_{entry.outcome}", entry.outcome),
            t("col_details"): audit_sentence(entry),
        }
        for entry in entries
    ),
    hide_index=True,
    width="stretch",
    column_config={t("col_details"): st.column_config.TextColumn(width="large")},
)
