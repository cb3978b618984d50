"""Pure renderers: a rollout record or the settings as text (the table, the page, the Kubernetes manifests)."""
