"""The Kivy shell around the driver client core: screens call store, capture and sync."""
