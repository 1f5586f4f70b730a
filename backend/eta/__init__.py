"""Live ETAs: travel-time providers, the driver's positions, and the recompute that
keeps each open stop's estimate current (the rule itself is ``backend.domain.eta``)."""
