"""Sign in to the admin panel, or see who is signed in and sign out."""

from datetime import timedelta

import streamlit as st

from admin import auth
from admin.navigation import sign_in_form, sign_out
from admin.ui import signed_in_user
from interface.i18n import t

st.title(t("account_title"))
user = signed_in_user(st.session_state)

if user is None:
    sign_in_form()
else:
    st.success(t("signed_in_as", name=user.name, role=t(f"role_{user.role}")))
    st.caption(t("signed_in_caption", hours=auth.SESSION_DURATION // timedelta(hours=1)))
    if st.button(t("sign_out")):
        sign_out()
