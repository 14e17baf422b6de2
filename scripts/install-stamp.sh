# Sourced by scripts/up and scripts/dev-setup: whether .venv holds what pyproject.toml asks for.
# A stamp file records the SHA-256 of the pyproject.toml last installed from; an install is
# current when its stamp matches and the venv's baryon command exists.

pyproject_digest() { sha256sum pyproject.toml | cut -d' ' -f1; }

install_is_current() {  # $1: the stamp file
  [ -x .venv/bin/baryon ] && [ -f "$1" ] && [ "$(cat "$1")" = "$(pyproject_digest)" ]
}

mark_installed() {  # $1: the stamp file
  pyproject_digest >"$1"
}
