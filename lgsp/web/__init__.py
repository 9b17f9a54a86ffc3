"""What every HTTP API of the hub shares: one error model and one place that maps errors to HTTP."""
