"""The demo: a seeded Seattle organization, a simulated delivery day, and the server
`make run` and `make demo` start. Part of the checkout, not of the shipped packages.

Nothing in ``backend`` or ``driver_client`` imports this package; it imports them, as
the benchmarks (``bench``) and the tests do. ``python -m demo`` is its command line.

- ``seed``, ``seed_data``: the demo organization, its people and its day of stops.
- ``app``: the shipped app plus the one thing a demo needs, a today that is planned.
- ``setup``: what ``make run`` does before serving (migrate, seed, plan, banner).
- ``day``: ``make demo``'s simulated day of five drivers.
- ``crash_worker``: a device process that kills itself at a chosen step (the day's
  killed apps, and the client's crash test).
- ``devserver``: gunicorn in the background, for the day, the benchmarks and the tests.
"""
