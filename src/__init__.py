"""churn-service ML code: data -> features -> train -> gate -> artifact."""
