# Sourced by scripts/up and scripts/test: installs what duomfa needs on a fresh Debian machine
# (system packages, a virtualenv with the pinned Python packages, the package itself), then
# leaves the virtualenv active. Re-running is cheap: each step is skipped when already done.
set -euo pipefail

DUOMFA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DUOMFA_VENV="${DUOMFA_VENV:-$DUOMFA_ROOT/.venv}"

# duomfa_apt PACKAGE:COMMAND ... installs each Debian package whose command is missing.
duomfa_apt() {
    local missing=() spec
    for spec in "$@"; do
        command -v "${spec#*:}" >/dev/null 2>&1 || missing+=("${spec%%:*}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
            echo "duomfa: needs the Debian packages: ${missing[*]}; run as root: apt-get install ${missing[*]}" >&2
            return 1
        fi
    fi
    echo "duomfa: installing Debian packages: ${missing[*]}" >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

duomfa_venv() {
    local python="${PYTHON:-}"
    if [ -z "$python" ]; then
        for candidate in python3 python3.11 python3.12 python3.13; do
            if command -v "$candidate" >/dev/null 2>&1 &&
               "$candidate" -c "import sys; sys.exit(sys.version_info < (3, 11))" 2>/dev/null; then
                python="$candidate"; break
            fi
        done
    fi
    [ -n "$python" ] || { echo "duomfa: needs Python >= 3.11" >&2; return 1; }
    [ -x "$DUOMFA_VENV/bin/python" ] || "$python" -m venv "$DUOMFA_VENV"
    local stamp="$DUOMFA_VENV/.duomfa-installed"
    local want
    want="$(sha256sum "$DUOMFA_ROOT/pyproject.toml" | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "duomfa: installing Python packages into $DUOMFA_VENV" >&2
        if ! "$DUOMFA_VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$DUOMFA_ROOT[test]" \
                >"$DUOMFA_VENV/pip-install.log" 2>&1; then
            grep -v "^WARNING: Location" "$DUOMFA_VENV/pip-install.log" >&2
            echo "duomfa: installing Python packages failed (log: $DUOMFA_VENV/pip-install.log)" >&2
            return 1
        fi
        echo "$want" > "$stamp"
    fi
    # shellcheck disable=SC1091
    . "$DUOMFA_VENV/bin/activate"
}
