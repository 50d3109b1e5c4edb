#!/usr/bin/env bash
# Steward's two commands:  ./quickstart.sh demo   and   ./quickstart.sh test
# Each installs what it needs on a fresh Debian/Ubuntu machine (Python >= 3.11):
# system packages through apt (mosquitto for the demo's access side and the tests; mbpoll,
# victoria-metrics, chromium for the tests), Python packages into ./.venv. Re-running
# skips what is already there.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv

say() { printf '\033[1m[steward]\033[0m %s\n' "$*" >&2; }

need_apt() {  # need_apt <command> <package>...: install packages when the command is missing
  local cmd=$1; shift
  # /usr/sbin (mosquitto's home on Debian) is not on every user's PATH.
  { command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ]; } && return 0
  apt_install "$@"
}

apt_install() {  # apt_install <package>...
  say "installing $* (apt)"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ ! -f /tmp/.steward-apt-updated ]; then
    $sudo apt-get update -qq && touch /tmp/.steward-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

python_env() {
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    say "Python 3.11 or newer is required ($PYTHON is $("$PYTHON" -V 2>&1))"; exit 1
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; rm -rf "$VENV"; "$PYTHON" -m venv "$VENV"; }
  fi
  local stamp="$VENV/.installed-$(sha1sum pyproject.toml | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    say "installing Python packages into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -e ".[test]"
    touch "$stamp"
  fi
}

case "${1:-}" in
  demo)
    shift
    # The demo runs without its access side (and says so) when mosquitto cannot be had.
    case " $* " in
      *" --no-access "*) ;;
      *) need_apt mosquitto mosquitto || say "could not install mosquitto; the demo starts without its access side" ;;
    esac
    python_env
    exec "$VENV/bin/steward-sim" demo "$@"
    ;;
  test)
    shift
    need_apt mosquitto mosquitto
    need_apt mbpoll mbpoll
    need_apt victoria-metrics victoria-metrics
    # The cockpit's browser tests: Debian's Chromium (driven by Playwright, never a
    # downloaded browser), pdftoppm for the reports' PDFs, a CJK font for Chinese pages.
    need_apt chromium chromium
    need_apt pdftoppm poppler-utils poppler-data
    [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || apt_install fonts-wqy-microhei
    python_env
    set +e
    # Two workers, each taking one test file at a time (pytest-xdist): most tests wait on
    # real processes, sockets and clocks rather than the CPU. tests/conftest.py puts the
    # longest files first, and --no-loadscope-reorder keeps that order. Options after
    # `test` come last, so `-n 0` runs everything in this one process.
    "$VENV/bin/python" -m pytest -n 2 --dist loadfile --no-loadscope-reorder "$@"
    rc=$?
    # pytest exit code 5 means "no tests collected": a broken selection, not a pass.
    [ $rc -eq 5 ] && say "pytest collected no tests"
    exit $rc
    ;;
  *)
    echo "usage: $0 demo [--speed N] [--no-access] | test [pytest args]" >&2
    exit 2
    ;;
esac
