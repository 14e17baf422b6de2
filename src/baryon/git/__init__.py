"""Git repositories: reaching remote ones (fetch, read, commit, push) and serving Baryon's own
over smart HTTP.

A library: it knows nothing of Baryon but its settings. dulwich speaks the git protocol; the
modules here bound what a hostile repository or client can cost and turn dulwich's
exceptions into one error a user can read (errors.GitError).
"""
