#!/bin/sh
# Installs what building and testing runsc-decoupled needs on a Debian
# machine that has Go: busybox-static (the test workloads), protoc (the
# generated-code check), gcc (static test programs), make (a workload),
# containerd with runc (the OCI runtime's end-to-end test drives
# containerd's runc.v2 shim; runc is there to compare with), m4,
# procps, iproute2 and net-tools (tools that read /proc, run by the /proc
# end-to-end tests: ps, pmap, ss, nstat, netstat), and
# python3 (Debian's, dynamically linked: the socket tests run an asyncio
# server and http.server in the sandbox), strace (the ptrace test runs
# it in the sandbox) and gdb (so does the debugger test). Idempotent.
set -eu
need=""
command -v protoc >/dev/null 2>&1 || need="$need protobuf-compiler"
[ -x /bin/busybox ] && file_ok=1 || file_ok=0
if [ "$file_ok" = 0 ] || ! /bin/busybox --list >/dev/null 2>&1; then need="$need busybox-static"; fi
command -v gcc >/dev/null 2>&1 || need="$need gcc libc6-dev"
command -v make >/dev/null 2>&1 || need="$need make"
command -v containerd >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1 || need="$need containerd"
command -v runc >/dev/null 2>&1 || need="$need runc"
command -v m4 >/dev/null 2>&1 || need="$need m4"
command -v ip >/dev/null 2>&1 && command -v ss >/dev/null 2>&1 && command -v nstat >/dev/null 2>&1 || need="$need iproute2"
command -v netstat >/dev/null 2>&1 || need="$need net-tools"
command -v ps >/dev/null 2>&1 && command -v free >/dev/null 2>&1 || need="$need procps"
/usr/bin/python3 -c "import asyncio, http.server, urllib.request" >/dev/null 2>&1 || need="$need python3"
command -v strace >/dev/null 2>&1 || need="$need strace"
command -v gdb >/dev/null 2>&1 || need="$need gdb"
if [ -n "$need" ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "setup: installing$need" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $need >/dev/null
fi
# Debian's busybox-static is statically linked; the tests rely on that.
/bin/busybox true
