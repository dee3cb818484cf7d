#!/bin/sh
# Measures the sandbox against two public suites nobody here wrote, side by
# side with native Linux and gVisor's runsc, on the same machine in the same
# run: LTP's syscalls tests (the directories in ltp-dirs.txt) and pjdfstest.
#
# Neither suite is packaged by Debian and CI reaches no source hosts, so the
# sources are given by path (git clones of github.com/linux-test-project/ltp
# and github.com/pjd/pjdfstest):
#
#   git clone https://github.com/linux-test-project/ltp /src/ltp
#   git clone https://github.com/pjd/pjdfstest /src/pjdfstest
#   LTP_SRC=/src/ltp PJDFSTEST_SRC=/src/pjdfstest ./test/suites/run.sh
#
# It installs the build tools (setup.sh), builds LTP's lib and only the
# chosen syscalls directories (installed under $BUILD/ltp) and pjdfstest's C
# program (in its tree), builds runsc-decoupled (static) and gVisor's runsc
# (the version in go.mod, the build test/bench uses, cached in $TMPDIR),
# then runs every test in a fresh sandbox per runner with a timeout and
# prints a pass-count table (test/suites/runner). Needs root.
#
# Settings (environment): RUNNERS=native,runsc,decoupled  JOBS=2 (tests at
# once)  TIMEOUT=60s (per LTP test)  PJDFSTEST_TIMEOUT=5m (per pjdfstest
# file)  SUITES=ltp,pjdfstest  OUT=test/suites/out
# (results: <suite>/<runner>/results.tsv, the tail of each test's output,
# table.md, triage.md)  BUILD=$TMPDIR/suites-build  LTP_DIRS=ltp-dirs.txt.
# Rerunning one column (RUNNERS=decoupled) keeps the others' results;
# extra arguments go to the runner (-run=chown/ runs only matching tests,
# -give-up=N, -report; see its -help).
# Everything runs under nice -n 15.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tmp=${TMPDIR:-/tmp}
build=${BUILD:-$tmp/suites-build}
out=${OUT:-$here/out}
jobs=${JOBS:-2}
suites=${SUITES:-ltp,pjdfstest}
ltp_dirs=${LTP_DIRS:-$here/ltp-dirs.txt}
mkdir -p "$build" "$out"
"$here/setup.sh"

nice="nice -n 15"
case ",$suites," in *,ltp,*)
	: "${LTP_SRC:?set LTP_SRC to a clone of github.com/linux-test-project/ltp}"
	ltp_prefix=$build/ltp
	(
		cd "$LTP_SRC"
		# One configure and build at a time in a tree: two runs sharing
		# it (another BUILD's prefix reconfigures it) would leave a
		# half-written include/config.h to the other's build.
		exec 9>>"$LTP_SRC/.suites-build.lock"
		flock 9
		if [ ! -f config.status ] || ! grep -q -- "--prefix=$ltp_prefix" config.status; then
			echo "suites: configuring LTP in $LTP_SRC" >&2
			$nice make autotools >"$build/ltp-configure.log" 2>&1
			$nice ./configure --prefix="$ltp_prefix" >>"$build/ltp-configure.log" 2>&1 ||
				{ tail -20 "$build/ltp-configure.log" >&2; exit 1; }
		fi
		echo "suites: building LTP lib and $(grep -v '^#' "$ltp_dirs" | wc -w) syscalls directories (log: $build/ltp-build.log)" >&2
		: >"$build/ltp-build.log"
		$nice make -j"$jobs" -C lib >>"$build/ltp-build.log" 2>&1 ||
			{ tail -20 "$build/ltp-build.log" >&2; exit 1; }
		for d in $(grep -v '^#' "$ltp_dirs"); do
			if ! $nice make -j"$jobs" -C "testcases/kernel/syscalls/$d" >>"$build/ltp-build.log" 2>&1 ||
				! $nice make -C "testcases/kernel/syscalls/$d" install >>"$build/ltp-build.log" 2>&1; then
				echo "suites: LTP directory $d does not build (see $build/ltp-build.log); its tests are missing" >&2
			fi
		done
		mkdir -p "$ltp_prefix/runtest"
		cp runtest/syscalls "$ltp_prefix/runtest/syscalls"
	)
	;;
esac

case ",$suites," in *,pjdfstest,*)
	: "${PJDFSTEST_SRC:?set PJDFSTEST_SRC to a clone of github.com/pjd/pjdfstest}"
	(
		cd "$PJDFSTEST_SRC"
		if [ ! -x pjdfstest ]; then
			echo "suites: building pjdfstest in $PJDFSTEST_SRC" >&2
			{ $nice autoreconf -ifs && $nice ./configure && $nice make pjdfstest; } >"$build/pjdfstest-build.log" 2>&1 ||
				{ tail -20 "$build/pjdfstest-build.log" >&2; exit 1; }
		fi
	)
	;;
esac

cd "$repo"
echo "suites: building runsc-decoupled and the runner" >&2
CGO_ENABLED=0 $nice go build -o "$build/runsc-decoupled" ./runsc-decoupled
$nice go build -o "$build/suites-runner" ./test/suites/runner
exec $nice "$build/suites-runner" \
	-suites="$suites" -runners="${RUNNERS:-native,runsc,decoupled}" \
	-jobs="$jobs" -timeout="${TIMEOUT:-60s}" -pjdfstest-timeout="${PJDFSTEST_TIMEOUT:-5m}" -out="$out" \
	-decoupled="$build/runsc-decoupled" \
	-ltp="$build/ltp" -ltp-dirs="$ltp_dirs" -ltp-src="${LTP_SRC:-}" \
	-pjdfstest="${PJDFSTEST_SRC:-}" "$@"
