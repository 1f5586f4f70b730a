"""`make bench`: throughput and cost measured as ratios against a floor from the same run.

These machines are noisy, so absolute numbers mean little; each section measures a
floor (the cheapest comparable operation) in the same run and reports the ratio.
"""
