"""The audit log: who did what, when, and whether it was allowed."""

import pandas as pd
import streamlit as st

from admin.auth import audit_log
from admin.ui import db, require

require("users")
st.title("Audit log")
with db() as session:
    entries = audit_log(session, limit=500)
st.dataframe(
    pd.DataFrame(
        {
            "when": entry.at.strftime("%Y-%m-%d %H:%M:%S"),
            "who": entry.user_name,
            "action": entry.action,
            "outcome": entry.outcome,
            "details": str(entry.details),
        }
        for entry in entries
    ),
    hide_index=True,
    use_container_width=True,
)
