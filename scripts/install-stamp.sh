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

# The npm packages of a test helper (tests/support/NAME/): `npm ci` only when node_modules is
# missing or was installed from another package-lock.json, so a second run needs no network.
# The stamp, node_modules/.installed-from, holds the SHA-256 of the lock it was installed from.
npm_install() {  # $1: the folder holding package-lock.json
  local stamp="$1/node_modules/.installed-from" digest
  digest="$(sha256sum "$1/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then return 0; fi
  # node_modules from before stamps, installed (npm's own record) no earlier than the lock
  # last changed.
  local record="$1/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] && [ -f "$record" ] && [ ! "$1/package-lock.json" -nt "$record" ]; then
    echo "$digest" >"$stamp"
    return 0
  fi
  npm ci --prefix "$1" --no-audit --no-fund --silent
  echo "$digest" >"$stamp"
}
