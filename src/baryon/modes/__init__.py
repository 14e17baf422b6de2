"""How a Baryon process runs: embedded (one process does everything) or scaled."""
