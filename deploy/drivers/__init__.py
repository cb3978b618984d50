"""Process drivers: nginx, Prometheus, the two services as a stack, compose, replayed traffic, the PromQL engine."""
