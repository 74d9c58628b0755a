"""The Streamlit app: thin pages over ``core`` (entry point ``streamlit_app/app.py``)."""
