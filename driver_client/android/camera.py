"""Photos from the phone's own camera app, through Android's image-capture intent.

The camera app writes the picture into a MediaStore entry this app created (a
content URI it grants write access to: since Android 7 a file path may not be handed
to another app, and since Android 10 the camera app cannot write into this app's
storage). The picture is read back through a file descriptor and the entry deleted
at once, so a recipient's door never stays in the driver's gallery. Android answers
on its own thread; the answer is handed to Kivy's (``to_ui``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from driver_client.android.jni import AutoClass, activity, autoclass
from driver_client.android.permissions import ASKS, Need
from driver_client.photos import Photo, PhotoDone, Stamper

REQUEST_CODE = 0x0D05  # tells this app's camera result from other activity results
RESULT_OK = -1  # android.app.Activity.RESULT_OK
WITHOUT_CAMERA = next(ask.without_it for ask in ASKS if ask.need is Need.CAMERA)


class ActivityEvents(Protocol):
    """python-for-android's ``android.activity``: activity results, by callback."""

    def bind(self, **callbacks: Callable[..., None]) -> None: ...

    def unbind(self, **callbacks: Callable[..., None]) -> None: ...


def _cast(name: str, value: Any) -> Any:
    from jnius import cast

    return cast(name, value)


class CameraIntentSource:
    def __init__(
        self,
        stamp: Stamper,
        events: ActivityEvents,
        camera_allowed: Callable[[], bool],
        to_ui: Callable[[PhotoDone], PhotoDone],
        load: AutoClass = autoclass,
        cast: Callable[[str, Any], Any] = _cast,
    ) -> None:
        self.stamp = stamp
        self.events = events
        self.camera_allowed = camera_allowed
        self.to_ui = to_ui
        self.load = load
        self.cast = cast
        self.pending: tuple[Any, PhotoDone] | None = None

    def take(self, done: PhotoDone) -> None:
        done = self.to_ui(done)
        if not self.camera_allowed():
            # An app that declares CAMERA may not even start the camera app without it.
            done(None, WITHOUT_CAMERA)
            return
        app = activity(self.load)
        store = self.load("android.provider.MediaStore")
        values = self.load("android.content.ContentValues")()
        # MediaStore.MediaColumns: DISPLAY_NAME, MIME_TYPE, RELATIVE_PATH (Android 10+).
        values.put("_display_name", f"doorstep-{uuid.uuid4().hex}.jpg")
        values.put("mime_type", "image/jpeg")
        values.put("relative_path", "Pictures/Doorstep")
        images = self.load("android.provider.MediaStore$Images$Media").EXTERNAL_CONTENT_URI
        uri = app.getContentResolver().insert(images, values)
        if uri is None:
            done(None, "The phone has no room for a photo: free some space and try again.")
            return
        intent_class = self.load("android.content.Intent")
        intent = intent_class(store.ACTION_IMAGE_CAPTURE)
        intent.putExtra(store.EXTRA_OUTPUT, self.cast("android.os.Parcelable", uri))
        intent.addFlags(intent_class.FLAG_GRANT_WRITE_URI_PERMISSION)
        self.pending = (uri, done)
        self.events.bind(on_activity_result=self.on_activity_result)
        app.startActivityForResult(intent, REQUEST_CODE)

    def on_activity_result(self, request_code: int, result_code: int, _intent: Any) -> None:
        if request_code != REQUEST_CODE or self.pending is None:
            return
        self.events.unbind(on_activity_result=self.on_activity_result)
        uri, done = self.pending
        self.pending = None
        resolver = activity(self.load).getContentResolver()
        try:
            data = self._read(resolver, uri) if result_code == RESULT_OK else b""
        except Exception:  # any Java error reading it: the picture is not there
            data = b""
        finally:
            resolver.delete(uri, None, None)
        if result_code != RESULT_OK:
            done(None, "No photo was taken.")
        elif not data:
            done(None, "The camera returned no picture: try again.")
        else:
            photo: Photo = self.stamp(data)
            done(photo, "")

    @staticmethod
    def _read(resolver: Any, uri: Any) -> bytes:
        descriptor = resolver.openFileDescriptor(uri, "r")
        with os.fdopen(descriptor.detachFd(), "rb") as picture:
            return picture.read()
