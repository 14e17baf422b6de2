"""Workers: run durable jobs (registrations, deployments), resumable after any crash."""
