"""Orchestration: the rollout controller, the candidate's admission, the promotion transaction."""
