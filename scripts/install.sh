#!/usr/bin/env bash
# The one way Loupe's Python environment is made: `make` and the Dockerfile both call this, so
# their steps cannot drift apart.
#
#   scripts/install.sh [--venv PATH] [--dev] [--stamp FILE] [--torch-cpu] [--deps-only]
#   scripts/install.sh [--venv PATH] --venv-only | --check
#
#   --venv PATH   the virtual environment (default: .venv in the project folder)
#   --dev         also install the `dev` extra (pytest, ruff, playwright, hadolint, ...)
#   --stamp FILE  touch FILE after a successful install, and only then (make's target)
#   --torch-cpu   take torch and torchvision as their +cpu builds from the PyTorch CPU index
#                 (the container; the index is $TORCH_CPU_INDEX). Without it, torch comes from
#                 the ordinary indexes, as pinned in requirements.lock.
#   --deps-only   install the dependencies named in pyproject.toml but not Loupe itself (a
#                 container layer that stays cached while app/ changes)
#   --venv-only   only make sure the environment exists and its pip works; install nothing
#   --check       say whether the environment is sound (exit 0) or why not (exit 1); change nothing
#
# A half-made environment is rebuilt from scratch. `python3 -m venv` interrupted in its first
# seconds (Ctrl-C during `make demo`) leaves a folder with a python but no pip, and every later
# `pip install` then failed with "No module named pip". The environment is kept only if
# pyvenv.cfg names a home, its python runs as a virtual environment, and pip imports with every
# file its RECORD lists; otherwise it is removed and made again.
#
# The install is atomic with respect to the stamp: the stamp is removed before pip starts and
# written only after pip succeeded, so an interrupted or failed install is redone next time.
set -euo pipefail

project_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$project_dir/.venv"
python="${PYTHON:-python3}"
torch_cpu_index="${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"
dev=0 stamp="" torch_cpu=0 deps_only=0 venv_only=0 check=0

usage() { sed -n '5,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
say() { printf 'install.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --venv) [ $# -ge 2 ] || die "--venv needs a path"; venv="$2"; shift ;;
        --venv=*) venv="${1#*=}" ;;
        --dev) dev=1 ;;
        --stamp) [ $# -ge 2 ] || die "--stamp needs a file"; stamp="$2"; shift ;;
        --stamp=*) stamp="${1#*=}" ;;
        --torch-cpu) torch_cpu=1 ;;
        --deps-only) deps_only=1 ;;
        --venv-only) venv_only=1 ;;
        --check) check=1 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done
[ -n "$venv" ] || die "--venv must not be empty"
# Absolute paths: pip runs from the project folder, wherever this was called from.
case "$venv" in /*) ;; *) venv="$PWD/$venv" ;; esac
case "$stamp" in /* | "") ;; *) stamp="$PWD/$stamp" ;; esac

# Prints why the environment at $venv is unusable, or nothing if it is sound.
venv_problem() {
    if [ ! -f "$venv/pyvenv.cfg" ]; then
        echo "it has no pyvenv.cfg"
    elif ! grep -Eq '^[[:space:]]*home[[:space:]]*=' "$venv/pyvenv.cfg"; then
        echo "its pyvenv.cfg names no home interpreter"
    elif [ ! -x "$venv/bin/python" ]; then
        echo "it has no runnable bin/python"
    elif ! "$venv/bin/python" - >/dev/null 2>&1 <<'PY'
import importlib.metadata
import sys

if sys.prefix == sys.base_prefix:
    sys.exit("not running as a virtual environment")
# ensurepip writes pip's RECORD last, so a RECORD whose files are all there means pip was
# installed whole; byte-code is left out (it is made again when missing).
files = importlib.metadata.distribution("pip").files or []
if not files or any(not f.locate().exists() for f in files if f.suffix != ".pyc"):
    sys.exit("pip is incomplete")
import pip._internal.cli.main  # noqa: E402,F401  (pip's own entry point imports)
PY
    then
        echo "its python cannot run pip (an interrupted 'python -m venv'?)"
    fi
}

# True if every entry of the folder is one a virtual environment holds, so removing it cannot
# throw away anything else (a mistyped --venv pointing at a project or home folder).
looks_like_venv() {
    local entry
    for entry in "$1"/* "$1"/.[!.]* "$1"/..?*; do
        [ -e "$entry" ] || [ -L "$entry" ] || continue
        case "${entry##*/}" in
            bin | include | lib | lib64 | lib32 | share | etc | man | src | pyvenv.cfg) ;;
            .gitignore | .installed-stamp | "${stamp##*/}") ;;
            *) return 1 ;;
        esac
    done
}

ensure_venv() {
    local problem=""
    if [ -e "$venv" ] || [ -L "$venv" ]; then
        problem="$(venv_problem)"
        [ -z "$problem" ] && return 0
        [ -d "$venv" ] && [ ! -L "$venv" ] || die "$venv exists and is not a folder; remove it"
        looks_like_venv "$venv" \
            || die "$venv is unusable ($problem) and holds files a virtual environment" \
                "does not; not removing it: remove it yourself and run again"
        say "$venv is half-made ($problem): removing it and making it again"
        rm -rf -- "$venv"
    fi
    command -v "$python" >/dev/null || die "no '$python' on PATH (set PYTHON=...)"
    say "creating $venv with $("$python" -c 'import sys; print(sys.executable)')"
    "$python" -m venv "$venv"
    problem="$(venv_problem)"
    [ -z "$problem" ] || die "$venv was just made but is unusable: $problem"
}

# Requirement lines for the dependencies in pyproject.toml (plus the dev extra if asked).
dependency_lines() {
    "$venv/bin/python" - "$project_dir/pyproject.toml" "$dev" <<'PY'
import sys
import tomllib

with open(sys.argv[1], "rb") as f:
    project = tomllib.load(f)["project"]
lines = list(project.get("dependencies", []))
if sys.argv[2] == "1":
    lines += project.get("optional-dependencies", {}).get("dev", [])
print("\n".join(lines))
PY
}

if [ "$check" = 1 ]; then
    problem="it does not exist"
    [ ! -e "$venv" ] || problem="$(venv_problem)"
    [ -z "$problem" ] || die "$venv is unusable: $problem"
    say "$venv is sound"
    exit 0
fi

[ -z "$stamp" ] || rm -f -- "$stamp"
ensure_venv
[ "$venv_only" = 0 ] || exit 0

cd "$project_dir"
tmp="$(mktemp -d)"
trap 'rm -rf -- "$tmp"' EXIT

pip_args=(-q --disable-pip-version-check -c requirements.lock)
if [ "$torch_cpu" = 1 ]; then
    # The same versions as requirements.lock, as their CPU builds: `==2.14.1` from the lock and
    # `==2.14.1+cpu` here together admit only the +cpu wheel (no CUDA libraries, ~2 GB less).
    sed -n -E 's/^(torch|torchvision)==([^+[:space:]]+)[[:space:]]*$/\1==\2+cpu/p' \
        requirements.lock >"$tmp/torch-cpu.txt"
    [ "$(wc -l <"$tmp/torch-cpu.txt")" -eq 2 ] \
        || die "requirements.lock should pin torch and torchvision exactly"
    pip_args+=(--extra-index-url "$torch_cpu_index" -c "$tmp/torch-cpu.txt")
fi

if [ "$deps_only" = 1 ]; then
    dependency_lines >"$tmp/dependencies.txt"
    "$venv/bin/python" -m pip install "${pip_args[@]}" -r "$tmp/dependencies.txt"
else
    target="."
    [ "$dev" = 0 ] || target=".[dev]"
    # Editable: app/ finds templates/ and static/ beside it, in a checkout and in the image.
    "$venv/bin/python" -m pip install "${pip_args[@]}" -e "$target"
fi

[ -z "$stamp" ] || touch -- "$stamp"
