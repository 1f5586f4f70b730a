"""Back office at the end of the day: outcomes, the exception queue, the summary."""
