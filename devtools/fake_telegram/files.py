"""Photos and documents: sendPhoto and sendDocument (an upload, a known file id or a URL) and the photos users
send (push_photo). Nothing is downloaded: the bot never fetches a file."""

from __future__ import annotations

from .records import ChatId, JSONDict, StoredFile, UploadedFile, bad_request
from .sending import Sending


class Files(Sending):
    """Photos and documents."""

    def _file_param(self, name: str, params: JSONDict, files: dict[str, UploadedFile]) -> StoredFile:
        upload = files.get(name)
        value = params.get(name)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
        if upload is not None:
            folder = {"photo": "photos", "document": "documents"}.get(name, name)
            suffix = "." + upload.filename.rsplit(".", 1)[-1] if "." in upload.filename else ""
            stored = self._store_file(upload.data, folder, suffix, upload.content_type or "application/octet-stream")
            return stored
        if not isinstance(value, str) or not value:
            raise bad_request(f"there is no {name} in the request")
        if value in self._files:
            return self._files[value]
        if value.startswith(("http://", "https://")):
            return self._store_file(b"", name, "", "application/octet-stream")
        raise bad_request("wrong file identifier/HTTP URL specified")

    def _send_photo(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        chat_id, message = self._base_message(params)
        stored = self._file_param("photo", params, files)
        caption, entities = self._render_caption(params)
        markup = self._check_markup(params.get("reply_markup"))
        message["photo"] = [
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": 90,
                "height": 90,
                "file_size": len(stored.data),
            },
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": 800,
                "height": 800,
                "file_size": len(stored.data),
            },
        ]
        if caption is not None:
            message["caption"] = caption
            if entities:
                message["caption_entities"] = entities
        return self._finish_send("sendPhoto", params, chat_id, message, markup, params.get("caption"), caption)

    def _send_document(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        chat_id, message = self._base_message(params)
        upload = files.get("document")
        stored = self._file_param("document", params, files)
        caption, entities = self._render_caption(params)
        markup = self._check_markup(params.get("reply_markup"))
        document: JSONDict = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "mime_type": stored.mime_type,
        }
        if upload is not None and upload.filename:
            document["file_name"] = upload.filename
        message["document"] = document
        if caption is not None:
            message["caption"] = caption
            if entities:
                message["caption_entities"] = entities
        return self._finish_send("sendDocument", params, chat_id, message, markup, params.get("caption"), caption)

    def push_photo(
        self, user_id: int, *, caption: str | None = None, chat_id: ChatId | None = None, first_name: str = "Anna"
    ) -> JSONDict:
        """A photo (two sizes; the file can be fetched with getFile and the file URL)."""
        small = self._store_file(b"\xff\xd8\xff\xe0fake-jpeg-small", "photos", ".jpg", "image/jpeg")
        large = self._store_file(b"\xff\xd8\xff\xe0fake-jpeg-large" * 8, "photos", ".jpg", "image/jpeg")
        content: JSONDict = {
            "photo": [
                {
                    "file_id": small.file_id,
                    "file_unique_id": small.file_unique_id,
                    "width": 90,
                    "height": 67,
                    "file_size": len(small.data),
                },
                {
                    "file_id": large.file_id,
                    "file_unique_id": large.file_unique_id,
                    "width": 1280,
                    "height": 960,
                    "file_size": len(large.data),
                },
            ]
        }
        if caption is not None:
            content["caption"] = caption
        return self._push_message(user_id, content, first_name=first_name, chat_id=chat_id)
