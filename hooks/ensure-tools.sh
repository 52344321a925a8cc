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

# apt_install PACKAGE...: install Debian packages, as root or through sudo.
apt_install() {
    echo "installing Debian's $*" >&2
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "$* missing and installing needs root; install $* and retry"
        sudo=(sudo)
    fi
    command -v apt-get >/dev/null 2>&1 || die "$* missing and this system has no apt-get; install $* and retry"
    if ! { "${sudo[@]}" apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$@" >/dev/null; }; then
        die "could not install $* with apt-get"
    fi
}

ensure_redis_server() {
    command -v redis-server >/dev/null 2>&1 && return
    apt_install redis-server
    # Only the binary is needed: the tests start their own servers on free ports.
    if command -v systemctl >/dev/null 2>&1; then
        systemctl disable --now redis-server >/dev/null 2>&1 || true
    fi
}

# Whether PostgreSQL's server binaries are here: on PATH, or where Debian keeps them
# (/usr/lib/postgresql/<major>/bin, off PATH), which is where the generated projects'
# tests look for them.
have_postgresql_server() {
    command -v initdb >/dev/null 2>&1 && return
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

ensure_postgresql() {
    # A generated project with a database tests against real PostgreSQL servers.
    have_postgresql_server && return
    apt_install postgresql
    have_postgresql_server || die "postgresql was installed but its initdb is nowhere to be found"
    # Only the binaries are needed: the tests start their own servers on free ports.
    # Debian's package makes a cluster and starts it as a service.
    if command -v systemctl >/dev/null 2>&1; then
        systemctl disable --now postgresql >/dev/null 2>&1 || true
    fi
}

ensure_prometheus() {
    # tests/test_telemetry.py has a real Prometheus scrape a running service.
    command -v prometheus >/dev/null 2>&1 && return
    apt_install prometheus
    command -v prometheus >/dev/null 2>&1 || die "prometheus was installed but is not on PATH"
    # Only the binary is needed: the tests start their own servers on free ports. The
    # package recommends the node exporter, another service, which apt installs too.
    if command -v systemctl >/dev/null 2>&1; then
        local unit
        for unit in prometheus prometheus-node-exporter; do
            systemctl disable --now "$unit" >/dev/null 2>&1 || true
        done
    fi
}

ensure_container_tools() {
    # tests/test_container.py builds the generated Dockerfile with buildah, makes its
    # stand-in base images with debootstrap, and runs the image with unshare and mount.
    # hooks/pythons.py makes a Debian root with debootstrap for each offered Python this
    # machine lacks, and runs generated services' checks in it with unshare and mount.
    local missing=()
    command -v buildah >/dev/null 2>&1 || missing+=(buildah)
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
    command -v mount >/dev/null 2>&1 || missing+=(mount)
    [ "${#missing[@]}" -eq 0 ] && return
    apt_install "${missing[@]}"
    local tool
    for tool in buildah debootstrap unshare mount; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool was installed but is not on PATH"
    done
}
