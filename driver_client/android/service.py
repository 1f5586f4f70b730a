"""Starting and stopping the foreground service that finishes a sync with the screen off.

Android pauses an app whose screen is off, and its network thread with it; a capture
saved just before would then wait until the driver opens the app again. A foreground
service (with its notification) keeps running: the app starts it when it goes to the
background with something still waiting to sync, and the service stops itself once
the outbox is empty (driver_client/android/sync_service.py).
"""

from __future__ import annotations

from driver_client.android.jni import AutoClass, activity, autoclass

# python-for-android names a service's Java class after the spec's package.domain,
# package.name and service name: org.doorstep + doorstepdriver + "Service" + "Sync".
# tests/phone/test_android_spec.py holds this to buildozer.spec.
SERVICE_CLASS = "org.doorstep.doorstepdriver.ServiceSync"


def start_sync_service(load: AutoClass = autoclass) -> None:
    """Start (or keep) the sync service; starting one that runs is harmless on Android."""
    load(SERVICE_CLASS).start(activity(load), "")


def stop_sync_service(load: AutoClass = autoclass) -> None:
    """From the app, when it is in front again and syncs itself."""
    load(SERVICE_CLASS).stop(activity(load))
