# shellcheck shell=bash
# Helpers sourced by ./new-service and ./run-tests: install what they need, or say
# clearly why it cannot be installed here.

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

ensure_uv() {
    command -v uv >/dev/null 2>&1 && return
    command -v python3 >/dev/null 2>&1 || die "python3 is required to install uv"
    echo "uv not found: installing it with pip" >&2
    python3 -m pip install --quiet --user uv 2>/dev/null ||
        python3 -m pip install --quiet --user --break-system-packages uv ||
        die "could not install uv with pip; install it (https://docs.astral.sh/uv/) and retry"
    PATH="$(python3 -m site --user-base)/bin:$PATH"
    export PATH
    command -v uv >/dev/null 2>&1 || die "uv was installed but is not on PATH"
}

ensure_redis_server() {
    command -v redis-server >/dev/null 2>&1 && return
    echo "redis-server not found: installing Debian's redis-server" >&2
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "redis-server is missing and installing it needs root; install redis-server and retry"
        sudo=(sudo)
    fi
    command -v apt-get >/dev/null 2>&1 || die "redis-server is missing and this system has no apt-get; install redis-server and retry"
    if ! { "${sudo[@]}" apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq redis-server >/dev/null; }; then
        die "could not install redis-server with apt-get"
    fi
    # Only the binary is needed: the tests start their own servers on free ports.
    if command -v systemctl >/dev/null 2>&1; then
        "${sudo[@]}" systemctl disable --now redis-server >/dev/null 2>&1 || true
    fi
}
