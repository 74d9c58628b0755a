"""The admin panel: accounts and roles, live modality weights, model versions, topic review,
adding a modality, the junk filter, and the Streamlit pages for them (``admin/pages``).

Every action is a plain function ``f(session, user, ...)`` that checks the user's role and writes
the audit log (``admin.auth.action``); the pages only collect input and show results.
"""
