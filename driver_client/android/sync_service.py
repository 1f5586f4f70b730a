"""The foreground service's process: sync until nothing waits, then stop.

python-for-android runs this file as the service's ``__main__`` (buildozer.spec,
``services``). It opens the same store as the app (SQLite in WAL mode serialises the
two processes' writes) and syncs with the app's own backoff. Sending an event twice
is harmless: the server applies each event id once and answers ``duplicate``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from driver_client.android.jni import AutoClass, autoclass

# An hour of trying is longer than any dead zone a route crosses; after it the app
# syncs again when it next opens.
BUDGET_S = 3600.0


class Syncer(Protocol):
    login_ended: bool

    def run_once(self) -> None: ...

    def next_delay(self) -> float: ...


def drain(
    sync: Syncer,
    waiting: Callable[[], int],
    budget_s: float = BUDGET_S,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> bool:
    """Sync until ``waiting()`` is 0, the budget is spent or the login ended (the driver
    must log in again in the app); True when nothing waits."""
    deadline = monotonic() + budget_s
    while waiting() > 0:
        sync.run_once()
        remaining = deadline - monotonic()
        if waiting() == 0 or remaining <= 0 or sync.login_ended:
            break
        sleep(min(sync.next_delay(), remaining))
    return waiting() == 0


def stop_self(load: AutoClass = autoclass) -> None:
    """End this service (and its notification) once its work is done."""
    load("org.kivy.android.PythonService").mService.stopSelf()


def main() -> None:
    from driver_client.android.launch import data_dir, server_address
    from driver_client.capture import NoLocation
    from driver_client.device import Device
    from driver_client.sync import BackgroundSync

    # The service records nothing, so it needs no position.
    device = Device(data_dir(), server_address(), NoLocation())
    try:
        store = device.store
        drain(
            BackgroundSync(device.engine),
            lambda: store.pending_count() + len(store.pending_files()),
        )
    finally:
        device.close()
        stop_self()


if __name__ == "__main__":
    main()
