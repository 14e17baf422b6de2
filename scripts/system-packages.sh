# Sourced by scripts/up and scripts/dev-setup: installs Debian packages a fresh machine lacks.

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# python3 -m venv needs ensurepip, which Debian ships apart (python3-venv).
ensure_venv_support() {
  python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
}
