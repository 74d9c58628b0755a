"""Sign in to the admin panel, or see who is signed in and sign out."""

import streamlit as st

from admin import auth
from admin.ui import TOKEN_KEY, db, signed_in_user

st.title("Account")
user = signed_in_user(st.session_state)

if user is None:
    st.caption("Staff only: moderators review topics and label documents; admins run the model.")
    with st.form("sign_in"):
        name = st.text_input("Name")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            with db() as session:
                st.session_state[TOKEN_KEY] = auth.sign_in(session, name, password)
        except auth.SignInError as error:
            st.error(str(error))
        else:
            st.rerun()
else:
    st.success(f"Signed in as {user.name} ({user.role}).")
    if st.button("Sign out"):
        with db() as session:
            auth.sign_out(session, st.session_state.pop(TOKEN_KEY))
        st.rerun()
