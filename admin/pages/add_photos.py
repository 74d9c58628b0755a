"""Add photos to the collection: upload several, each with its caption and hashtags; the job
worker adds them to the active version without a retrain, with progress below."""

import streamlit as st

from admin.collection import NewPhoto, queue_photos
from admin.ui import active_version_or_stop, job_panel, perform, require
from core.settings import load_settings
from interface.i18n import t

user = require("add_documents", t("add_photos_title"))
version = active_version_or_stop()
st.caption(t("add_photos_caption", version=version.name))

uploads = st.file_uploader(
    t("photos_to_add"),
    type=["jpg", "jpeg", "png", "webp", "gif", "bmp"],
    accept_multiple_files=True,
)
photos = []
for number, upload in enumerate(uploads or []):
    with st.container(border=True):
        preview, words = st.columns([1, 3])
        data = upload.getvalue()
        preview.image(data, width=120)
        caption = words.text_input(t("photo_caption"), key=f"caption-{number}-{upload.name}")
        hashtags = words.text_input(t("photo_hashtags"), key=f"tags-{number}-{upload.name}")
        photos.append(NewPhoto(upload.name, data, caption, hashtags))

if st.button(t("add_these_photos"), type="primary", disabled=not photos):
    perform(queue_photos, user, load_settings(), photos, done=t("photos_queued"))
job_panel(user)
