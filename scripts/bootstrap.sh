# Sourced by scripts/up and scripts/test: installs what duomfa needs on a fresh Debian machine
# (system packages, a virtualenv with the pinned Python packages, the package itself), then
# leaves the virtualenv active. Re-running is cheap: each step is skipped when already done.
# With DUOMFA_BOOTSTRAP_PLAN=1 it prints what it would install, installs nothing, and stops.
set -euo pipefail

DUOMFA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DUOMFA_VENV="${DUOMFA_VENV:-$DUOMFA_ROOT/.venv}"  # the test suite's: everything, the toolchain included

# duomfa_apt PACKAGE:COMMAND ... installs each Debian package whose command is missing.
duomfa_apt() {
    local missing=() spec
    for spec in "$@"; do
        command -v "${spec#*:}" >/dev/null 2>&1 || missing+=("${spec%%:*}")
    done
    if [ -n "${DUOMFA_BOOTSTRAP_PLAN:-}" ]; then
        echo "debian: $* (missing: ${missing[*]:-none})"
        return 0
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
            echo "duomfa: needs the Debian packages: ${missing[*]}; run as root: apt-get install ${missing[*]}" >&2
            return 1
        fi
    fi
    echo "duomfa: installing Debian packages: ${missing[*]} (apt-get update, then install)" >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

# duomfa_venv DIR [EXTRAS] makes DIR a virtualenv holding duomfa (editable), its pinned runtime dependencies and
# those of EXTRAS (comma-separated names from pyproject.toml's optional-dependencies), and activates it.
duomfa_venv() {
    local venv="$1" extras="${2:-}"
    local spec="$DUOMFA_ROOT${extras:+[$extras]}"
    if [ -n "${DUOMFA_BOOTSTRAP_PLAN:-}" ]; then
        echo "virtualenv: $venv"
        echo "pip install -e $spec"
        exit 0
    fi
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
    if [ ! -x "$venv/bin/python" ]; then
        echo "duomfa: creating a virtualenv in $venv" >&2
        "$python" -m venv "$venv"
        echo "*" > "$venv/.gitignore"  # git leaves the whole virtualenv alone, whatever its name
    fi
    local stamp="$venv/.duomfa-installed" want
    want="$( { cat "$DUOMFA_ROOT/pyproject.toml"; echo "extras: $extras"; } | sha256sum | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        local started=$SECONDS
        echo "duomfa: installing duomfa${extras:+ with [$extras]} and its pinned dependencies into $venv" >&2
        # a line per package while pip works; its whole output goes to the log
        if ! "$venv/bin/python" -m pip install --disable-pip-version-check --progress-bar off -e "$spec" 2>&1 |
                tee "$venv/pip-install.log" |
                awk '/^(Obtaining|Collecting|Processing|Building wheels|Installing collected|Successfully installed)/ ||
                     /Installing build dependencies: started/ {
                         sub(/^Processing \/[^ ]*\//, "Processing "); print "duomfa:   " $0; fflush() }' >&2; then
            grep -v "^WARNING: Location" "$venv/pip-install.log" >&2
            echo "duomfa: installing Python packages failed (log: $venv/pip-install.log)" >&2
            return 1
        fi
        echo "$want" > "$stamp"
        echo "duomfa: Python packages installed in $((SECONDS - started)) s" >&2
    fi
    # shellcheck disable=SC1091
    . "$venv/bin/activate"
}
