"""Running an organization: its people, devices, depots and settings, and the audit
log of every administrative action."""
