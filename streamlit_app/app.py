"""The app: ``streamlit run streamlit_app/app.py``. Streamlit finds the ``st.App`` below and
serves the pages of ``main.py`` and, beside them, the two endpoints that set and clear the staff
session cookie (``admin.session_cookie``), which a Streamlit script alone cannot do. When the
server starts, the model and the image backbone load in the background (``warm_up``)."""

import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

# `streamlit run` puts this file's folder on sys.path, not the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st

from admin.session_cookie import ROUTES
from interface.state import get_service


@asynccontextmanager
async def warm_up(_: st.App) -> AsyncIterator[None]:
    """Loads the process's service (``get_service``: the active model, then its image
    backbone) while the server starts, so that neither the first visitor's page nor their
    first photo waits for it; the pages find it in Streamlit's resource cache."""
    threading.Thread(target=get_service, name="warm-up", daemon=True).start()
    yield


app = st.App("main.py", routes=ROUTES, lifespan=warm_up)
