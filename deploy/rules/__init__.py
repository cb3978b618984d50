"""Pure rules of a rollout: the stage, the log analysis, the PromQL queries, the window checks; no process."""
