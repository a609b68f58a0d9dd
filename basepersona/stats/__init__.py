"""Statistics stage: rates, paired gaps, base-vs-chat difference-in-differences, families, power.

Queries are the unit of randomisation. Every estimator here works from per-query sums (successes and
sample counts per query and condition), so clustering by query and pairing across conditions and
models come from the same arrays, and 10^6 samples reduce to a few thousand numbers before any work.
"""
