"""Widgets the screens share."""

from __future__ import annotations

from typing import Any

from kivy.graphics import Color, Line, Rectangle
from kivy.properties import ListProperty
from kivy.uix.widget import Widget

from driver_client.media import render_signature


class SignaturePad(Widget):
    """Draw with a finger; ``strokes`` holds the points in the pad's own coordinates."""

    strokes = ListProperty([])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind(pos=self._redraw, size=self._redraw)

    def on_touch_down(self, touch: Any) -> bool:
        if not self.collide_point(*touch.pos):
            return False
        touch.grab(self)
        self.strokes.append([self._local(touch.pos)])
        self._redraw()
        return True

    def on_touch_move(self, touch: Any) -> bool:
        if touch.grab_current is not self:
            return False
        if self.collide_point(*touch.pos):
            self.strokes[-1].append(self._local(touch.pos))
            self._redraw()
        return True

    def on_touch_up(self, touch: Any) -> bool:
        if touch.grab_current is not self:
            return False
        touch.ungrab(self)
        return True

    def clear(self) -> None:
        self.strokes = []
        self._redraw()

    def to_png(self) -> bytes:
        return render_signature(self.strokes, canvas_size=(self.width, self.height))

    def _local(self, pos: tuple[float, float]) -> tuple[float, float]:
        return (pos[0] - self.x, pos[1] - self.y)

    def _redraw(self, *_args: Any) -> None:
        self.canvas.clear()
        with self.canvas:
            Color(1, 1, 1, 1)
            Rectangle(pos=self.pos, size=self.size)
            Color(0.05, 0.05, 0.2, 1)
            for stroke in self.strokes:
                points = [c for x, y in stroke for c in (x + self.x, y + self.y)]
                if len(points) >= 4:
                    Line(points=points, width=2)
