"""The driver app's core: an offline store, capture and a sync engine, with no UI.

Everything here runs from a script, from tests and under the Kivy app alike. It speaks
the protocol in docs/sync-protocol.md and shares the pure rules in backend/domain.
"""

# Sent with every sync request, so admins see which app each device runs.
APP_VERSION = "0.1.0"
