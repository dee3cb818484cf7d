#!/bin/sh
# Runs the OCI runtime-tools validation suite (github.com/opencontainers/
# runtime-tools v0.9.0, validation/: 58 programs, each a TAP test of one
# part of the runtime spec, most of them checking the container from
# inside with runtimetest) against runtimes, and prints which programs
# pass for each: exit 0, at least one "ok" and no "not ok" (a program
# whose container could not be created reports 1..0 and exits 0). The
# suite is built from the Go module proxy in a scratch module, with the
# dependency versions it builds with (runtime-tools v0.9.0 has no go.mod;
# it wants the runtime-spec of early 2019).
# Run as root:
#
#   test/oci/validation.sh /path/to/runsc-decoupled [/usr/sbin/runc ...]
#
# WORK=DIR reuses (or keeps) the built suite in DIR. Each program runs
# with a 60 s timeout, one at a time; the table goes to stdout, each
# program's output to DIR/out/<runtime>/<test>.tap.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 RUNTIME..." >&2; exit 2; }
WORK="${WORK:-$(mktemp -d /tmp/rd-validation-XXXXXX)}"
mkdir -p "$WORK/bin"
mod=github.com/opencontainers/runtime-tools
cd "$WORK"
cat > go.mod <<EOM
module validation

go 1.24

require (
	github.com/blang/semver v3.5.1+incompatible
	github.com/hashicorp/go-multierror v1.1.1
	github.com/mndrix/tap-go v0.0.0-20171203230836-629fa407e90b
	github.com/mrunalp/fileutils v0.5.1
	github.com/opencontainers/runtime-spec v1.0.2-0.20190207185410-29686dbc5559
	github.com/opencontainers/runtime-tools v0.9.0
	github.com/opencontainers/selinux v1.8.0
	github.com/satori/go.uuid v1.2.0
	github.com/sirupsen/logrus v1.10.2
	github.com/syndtr/gocapability v0.0.0-20200815063812-42c35b437635
	github.com/urfave/cli v1.22.17
	github.com/xeipuuv/gojsonschema v1.2.0
)
EOM
printf '//go:build tools\n\npackage validation\n\nimport _ "%s/validation/util"\n' "$mod" > tools.go
export GOFLAGS=-mod=mod
src="$(go list -m -f '{{.Dir}}' "$mod")"
tests=""
for d in "$src"/validation/*/; do
  t="$(basename "$d")"
  [ "$t" = util ] && continue
  [ -x "bin/$t" ] || go build -o "bin/$t" "$mod/validation/$t"
  tests="$tests $t"
done
# runtimetest checks the container from inside; it must be static.
[ -x runtimetest ] || CGO_ENABLED=0 go build -o runtimetest "$mod/cmd/runtimetest"
cp "$src/rootfs-amd64.tar.gz" .
rm -f results
printf '%-40s' test
for rt in "$@"; do printf ' %-16s' "$(basename "$rt")"; done
printf '\n'
for t in $tests; do
  printf '%-40s' "$t"
  for rt in "$@"; do
    name="$(basename "$rt")"
    mkdir -p "out/$name"
    # A pass ran at least one check (a program whose container could not
    # be created reports 1..0 and exits 0) and failed none.
    if RUNTIME="$rt" timeout 60 "./bin/$t" > "out/$name/$t.tap" 2>&1 && grep -q '^ok' "out/$name/$t.tap" && ! grep -q '^not ok' "out/$name/$t.tap"; then
      r=pass
    else
      r=FAIL
    fi
    printf ' %-16s' "$r"
    echo "$name $r" >> results
    # A program that failed half-way can leave its container running (in
    # the runtime's default root): remove it before the next program.
    for id in $("$rt" list -q 2>/dev/null); do "$rt" delete --force "$id" >/dev/null 2>&1 || true; done
  done
  printf '\n'
done
for rt in "$@"; do
  name="$(basename "$rt")"
  printf '%s: %s/%s pass\n' "$name" "$(grep -c "^$name pass" results || true)" "$(grep -c "^$name " results)"
done
echo "TAP output: $WORK/out"
