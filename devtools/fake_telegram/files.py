"""Photos and documents: sendPhoto and sendDocument (an upload, a known file id or a URL), the photos users
send (push_photo), and getFile with the file download the web workspace uses to show a resident's photo to
staff (the bot itself never fetches a file)."""

from __future__ import annotations

from .records import ChatId, JSONDict, StoredFile, UploadedFile, bad_request, file_fields
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
        message["photo"] = [photo_size(stored, 90, 90), photo_size(stored, 800, 800)]
        _add_caption(message, caption, entities)
        return self._finish_send("sendPhoto", params, chat_id, message, markup, params.get("caption"), caption)

    def _send_document(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        chat_id, message = self._base_message(params)
        upload = files.get("document")
        stored = self._file_param("document", params, files)
        caption, entities = self._render_caption(params)
        markup = self._check_markup(params.get("reply_markup"))
        document: JSONDict = {**file_fields(stored), "mime_type": stored.mime_type}
        if upload is not None and upload.filename:
            document["file_name"] = upload.filename
        message["document"] = document
        _add_caption(message, caption, entities)
        return self._finish_send("sendDocument", params, chat_id, message, markup, params.get("caption"), caption)

    def _get_file(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise bad_request("invalid file_id")
        return {**file_fields(stored), "file_path": stored.file_path}

    def file_content(self, token: str, path: str) -> bytes | None:
        """The bytes behind `<base_file_url><token>/<file_path>`; None for another token or an unknown path."""
        if self.token is not None and token != self.token:
            return None
        with self._lock:
            return next((stored.data for stored in self._files.values() if stored.file_path == path), None)

    def push_photo(
        self, user_id: int, *, caption: str | None = None, chat_id: ChatId | None = None, first_name: str = "Anna"
    ) -> JSONDict:
        """A photo in two sizes (the bot keeps the file id; nothing is downloaded)."""
        small = self._store_file(b"\xff\xd8\xff\xe0fake-jpeg-small", "photos", ".jpg", "image/jpeg")
        large = self._store_file(b"\xff\xd8\xff\xe0fake-jpeg-large" * 8, "photos", ".jpg", "image/jpeg")
        content: JSONDict = {"photo": [photo_size(small, 90, 67), photo_size(large, 1280, 960)]}
        if caption is not None:
            content["caption"] = caption
        return self._push_message(*self._from_user(user_id, chat_id, first_name, "nl"), content)


def photo_size(stored: StoredFile, width: int, height: int) -> JSONDict:
    return {**file_fields(stored), "width": width, "height": height}


def _add_caption(message: JSONDict, caption: str | None, entities: list[JSONDict]) -> None:
    if caption is not None:
        message["caption"] = caption
        if entities:
            message["caption_entities"] = entities
