"""Has the traffic drifted away from the data the model learned from? In three parts, read in this order.

`reading` (the service's prediction log into the drift inputs, skipped lines
counted by reason), `judging` (PSI per input against the training snapshot,
lines calibrated to the batch, into a typed `DriftReport`), `rendering` (the
markdown table), `page` (the drift page: a histogram per input, recent vs
training, in the bins PSI compares); `python -m src.drift` is `__main__.py`.
"""
