"""The Streamlit app: thin pages over ``core`` (served by ``streamlit_app/app.py``)."""
