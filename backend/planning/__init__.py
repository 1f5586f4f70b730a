"""The dispatcher's plan: importing the day's stops, assigning, ordering, changing."""
