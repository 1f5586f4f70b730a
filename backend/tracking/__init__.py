"""The recipient's side: tracking links and what a link opens."""
