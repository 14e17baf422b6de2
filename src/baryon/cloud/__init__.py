"""The cloud Baryon provisions into: real AWS, or the embedded local cloud (moto)."""
