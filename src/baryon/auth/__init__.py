"""Who is calling: access keys and the master key that protects their secrets."""
