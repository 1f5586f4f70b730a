"""Offline sync: the plan goes down, door events come up, in one round trip."""
