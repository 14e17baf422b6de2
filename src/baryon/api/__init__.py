"""The front door: AWS JSON 1.0 over HTTP, driven entirely by the service models."""
