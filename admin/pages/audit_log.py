"""The audit log: who did what, when, and whether it was allowed."""

import pandas as pd
import streamlit as st

from admin.auth import audit_log
from admin.ui import db, details_text, require
from interface.i18n import t, t_or

require("users")
st.title(t("audit_title"))
with db() as session:
    entries = audit_log(session, limit=500)
st.dataframe(
    pd.DataFrame(
        {
            t("col_when"): entry.at.strftime("%Y-%m-%d %H:%M:%S"),
            t("col_who"): entry.user_name,
            t("col_action"): t_or(f"action_{entry.action}", entry.action),
            t("col_outcome"): t_or(f"outcome_{entry.outcome}", entry.outcome),
            t("col_details"): details_text(entry.details),
        }
        for entry in entries
    ),
    hide_index=True,
    width="stretch",
    column_config={t("col_details"): st.column_config.TextColumn(width="large")},
)
