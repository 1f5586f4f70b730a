"""Customer service: finding a delivery, and settling disputes with its evidence."""
