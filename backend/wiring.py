"""What the app holds for its services, and the one place adapters read it from.

Services never reach into the Flask app: a route, a console page or a CLI command
reads the evidence store and the proof sealer here and passes them in, the way
``SyncContext`` carries them into a sync. The database session (``backend.db.session``)
and the clock (``backend.clock``) have their own accessors.
"""

from __future__ import annotations

from flask import Flask, current_app

from backend.config import Settings
from backend.eta.travel import TravelTimes, from_setting
from backend.evidence.service import build_store
from backend.evidence.storage import EvidenceStore
from backend.sync.seal import ProofSealer

STORE = "doorstep.store"
SEALER = "doorstep.sealer"
TRAVEL = "doorstep.travel_times"


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions[STORE] = build_store(settings)
    app.extensions[SEALER] = ProofSealer.from_settings(settings)
    app.extensions[TRAVEL] = from_setting(settings.travel_times)


def evidence_store() -> EvidenceStore:
    """The app's evidence store (local files or S3, from the settings)."""
    store: EvidenceStore = current_app.extensions[STORE]
    return store


def proof_sealer() -> ProofSealer:
    """The app's receipt signer (built once by create_app from the settings)."""
    sealer: ProofSealer = current_app.extensions[SEALER]
    return sealer


def travel_times() -> TravelTimes:
    """Where ETAs get their travel times (``DOORSTEP_TRAVEL_TIMES``)."""
    travel: TravelTimes = current_app.extensions[TRAVEL]
    return travel
