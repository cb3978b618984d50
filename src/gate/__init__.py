"""The quality gate, in three parts read in this order.

`contract` (the thresholds, the declared checks, `judge`: where a verdict is
decided), `evidence` (what the checks judge, measured once), `stage` (train
or take a model, judge it, place the pair; `python -m src.gate`).
"""
