"""What only the phone runs: the APK's start, its foreground sync service, and the seams
to Android's own APIs.

Nothing here imports ``android``, ``jnius`` or ``plyer`` when the module is imported:
each Android API is reached through a function that takes it as an argument (or
imports it at the call), so the desktop and the tests import every module and run
every path against fakes (tests/phone/).
"""
