"""A message the driver must read and dismiss (a refused permission, a missing camera)."""

from __future__ import annotations

from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.popup import Popup


def show_notice(title: str, text: str) -> Popup:
    body = BoxLayout(orientation="vertical", spacing=dp(12), padding=dp(12))
    label = Label(text=text, font_size="16sp", halign="left", valign="top")
    label.bind(width=lambda widget, width: setattr(widget, "text_size", (width, None)))
    close = Button(text="OK", size_hint_y=None, height=dp(56), font_size="18sp")
    body.add_widget(label)
    body.add_widget(close)
    popup = Popup(title=title, content=body, size_hint=(0.9, 0.7), auto_dismiss=False)
    close.bind(on_release=popup.dismiss)
    popup.open()
    return popup
