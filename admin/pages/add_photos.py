"""Add photos to the collection: upload several, each with its caption and hashtags; the job
worker adds them to the active version without a retrain, with progress below."""

import streamlit as st

from admin.collection import NewPhoto, queue_photos
from admin.ui import active_version_or_stop, job_panel, perform, require
from core.settings import load_settings
from interface.i18n import t

FORM_KEY = "add_photos_form"

user = require("add_documents", t("add_photos_title"))
version = active_version_or_stop()
st.caption(t("add_photos_caption", version=version.name))

# Each queued upload starts a new form: its photos and captions are the job's now, and a second
# click must not queue them again.
form = st.session_state.setdefault(FORM_KEY, 0)
uploads = st.file_uploader(
    t("photos_to_add"),
    type=["jpg", "jpeg", "png", "webp", "gif", "bmp"],
    accept_multiple_files=True,
    key=f"photos-{form}",
)
photos = []
for number, upload in enumerate(uploads or []):
    with st.container(border=True):
        preview, words = st.columns([1, 3])
        data = upload.getvalue()
        preview.image(data, width=120)
        caption = words.text_input(t("photo_caption"), key=f"caption-{form}-{number}-{upload.name}")
        hashtags = words.text_input(t("photo_hashtags"), key=f"tags-{form}-{number}-{upload.name}")
        photos.append(NewPhoto(upload.name, data, caption, hashtags))

if st.button(t("add_these_photos"), type="primary", disabled=not photos):
    perform(
        queue_photos,
        user,
        load_settings(),
        photos,
        done=t("photos_queued"),
        then=lambda _: st.session_state.update({FORM_KEY: form + 1}),
    )
job_panel(user)
