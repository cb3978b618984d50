"""The churn prediction service: serves the exact artifact the gate passed."""
