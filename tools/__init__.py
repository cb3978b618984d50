"""Developer tooling that is neither ML code (src/) nor the service (app/)."""
