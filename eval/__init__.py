"""Evaluation: the fixed QA set, the runner, metrics, reports and baselines (the last stage of the data flow)."""
