#!/usr/bin/env bash
# usage: deploy/local/python.sh VENV [BASE]
# Make VENV, a virtualenv of the interpreter paystream runs on, or make it again when it was made
# from another interpreter. BASE (the Makefile's PYTHON_BASE) chooses one; by default Debian's
# python3.11, with its venv and headers packages installed if they are missing, and python3 on
# PATH where there is no apt.
#
# Why Debian's: it is built with profile-guided optimisation and link-time optimisation and
# linked statically (as the Dockerfile's python:3.11-slim is), where one built from source
# without --enable-optimizations (pyenv's default, as this machine's python3 is) took 17% more
# CPU for the same pure Python and the workers 11-14% more (docs/benchmarks.md, 2026-12-06 late
# night): the workers and the sinks are mostly Python.
set -euo pipefail

venv=${1:?usage: python.sh VENV [BASE]}
base=${2:-}

if [ -z "$base" ]; then
    if command -v apt-get > /dev/null; then
        if ! dpkg -s python3.11 python3.11-venv python3.11-dev > /dev/null 2>&1; then
            echo "python.sh: installing Debian's python3.11 with its venv and headers packages" >&2
            "$(dirname "$0")/apt_install.sh" python3.11 python3.11-venv python3.11-dev
        fi
        base=/usr/bin/python3.11
    else
        base=$(command -v python3)
    fi
fi

want=$("$base" -c 'import os, sys; print(os.path.realpath(sys.executable))')
if [ -f "$venv/pyvenv.cfg" ]; then
    have=$(sed -n 's/^executable = //p' "$venv/pyvenv.cfg")
    if [ "$(realpath -m "${have:-none}")" != "$want" ]; then
        echo "python.sh: $venv was made from ${have:-another interpreter}; making it again from $want" >&2
        rm -rf "$venv"
    fi
fi
"$base" -m venv "$venv"
