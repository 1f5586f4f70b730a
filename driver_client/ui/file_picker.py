"""The desktop's camera: the driver picks the photo's file, and sees which one.

A desktop has no camera to hand a picture back, and taking "the newest file in a
folder" silently would put whatever landed there last into a proof of delivery. So
the driver chooses the file in a dialog; cancelling takes no photo.
"""

from __future__ import annotations

from pathlib import Path

from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.filechooser import FileChooserListView
from kivy.uix.popup import Popup

from driver_client.photos import PhotoDone, Stamper

IMAGE_FILTERS = ["*.jpg", "*.jpeg", "*.JPG", "*.JPEG", "*.png", "*.PNG"]


class FilePickerSource:
    def __init__(self, folder: Path, stamp: Stamper) -> None:
        self.folder = folder
        self.stamp = stamp
        self.popup: Popup | None = None

    def take(self, done: PhotoDone) -> None:
        chooser = FileChooserListView(
            path=str(self.folder if self.folder.is_dir() else Path.home()),
            filters=IMAGE_FILTERS,
        )
        use = Button(text="Use this photo", font_size="18sp", disabled=True)
        cancel = Button(text="Cancel", font_size="18sp")
        buttons = BoxLayout(size_hint_y=None, height=dp(56), spacing=dp(8))
        buttons.add_widget(cancel)
        buttons.add_widget(use)
        body = BoxLayout(orientation="vertical", spacing=dp(8))
        body.add_widget(chooser)
        body.add_widget(buttons)
        popup = Popup(
            title="Choose the photo", content=body, size_hint=(0.95, 0.95), auto_dismiss=False
        )
        self.popup = popup

        def chosen() -> Path | None:
            return Path(chooser.selection[0]) if chooser.selection else None

        def on_selection(*_args: object) -> None:
            use.disabled = chosen() is None

        def on_use(*_args: object) -> None:
            path = chosen()
            popup.dismiss()
            if path is None:
                done(None, "No photo was chosen.")
                return
            try:
                data = path.read_bytes()
            except OSError as exc:
                done(None, f"{path.name} could not be read: {exc.strerror or exc}.")
                return
            self.folder = path.parent  # the next photo is likely in the same folder
            done(self.stamp(data), "")

        def on_cancel(*_args: object) -> None:
            popup.dismiss()
            done(None, "No photo was chosen.")

        chooser.bind(selection=on_selection)
        use.bind(on_release=on_use)
        cancel.bind(on_release=on_cancel)
        popup.open()
