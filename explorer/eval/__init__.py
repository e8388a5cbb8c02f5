"""Evaluation as library code: splits, metrics, baselines and the runner behind `python -m explorer.eval`."""
