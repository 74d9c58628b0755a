"""Sign in to the admin panel, or see who is signed in and sign out."""

import streamlit as st

from admin import auth
from admin.ui import TOKEN_KEY, db, signed_in_user
from interface.errors import error_text
from interface.i18n import t

st.title(t("account_title"))
user = signed_in_user(st.session_state)

if user is None:
    st.caption(t("account_caption"))
    with st.form("sign_in"):
        name = st.text_input(t("account_name"))
        password = st.text_input(t("account_password"), type="password")
        submitted = st.form_submit_button(t("sign_in"), type="primary")
    if submitted:
        try:
            with db() as session:
                st.session_state[TOKEN_KEY] = auth.sign_in(session, name, password)
        except auth.SignInError as error:
            st.error(error_text(error))
        else:
            st.rerun()
else:
    st.success(t("signed_in_as", name=user.name, role=t(f"role_{user.role}")))
    if st.button(t("sign_out")):
        with db() as session:
            auth.sign_out(session, st.session_state.pop(TOKEN_KEY))
        st.rerun()
