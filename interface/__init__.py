"""What the public pages (``streamlit_app``) and the admin pages (``admin/pages``) share: the
translation tables, the service of the process, and widgets. It imports only ``core`` and
Streamlit, so both sides import it without a cycle."""
