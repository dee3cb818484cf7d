package chaos

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Workload is a busybox shell script run in an empty directory. Scripts
// use relative paths only, so runs in different directories compare equal.
type Workload struct {
	Name   string
	Script string
	// Stdin is what the workload reads on its standard input.
	Stdin string
	// CSource, when set, is a C program that Prepare builds (gcc -static)
	// into the workload's directory as ./prog before the run; the script
	// runs it and removes it.
	CSource string
	// Pod, when set, makes w a network workload (PodPeers): it runs in
	// Options.Pod's namespace with peers outside the sandbox.
	Pod *PodPeers
	// Disk, when set, is a small tmpfs Run mounts in the workload's
	// directory for the run (and unmounts once its files are described).
	Disk *Disk
	// Conduct, when set, drives the run in step with the workload
	// (Conductor): the workload's stdin is the conductor's, and its
	// faults are those the conductor makes (Stdin and Run's random
	// kills are not used).
	Conduct func(c *Conductor) error
	// DoFlags are more flags of the sandbox's do (before its "--").
	DoFlags []string
	// Expect, when set, is what a faulty run must produce given ref, a
	// run of the workload without faults (unset: ref itself), for a
	// workload whose faults legitimately change what it prints.
	Expect func(ref Outcome) (Outcome, error)
}

// Disk is a tmpfs of Size bytes at Dir, relative to the workload's
// directory.
type Disk struct {
	Dir  string
	Size int64
}

//go:embed testdata/shmap.c
var shmapC string

//go:embed testdata/pairecho.c
var pairechoC string

//go:embed testdata/tickloop.c
var tickloopC string

//go:embed testdata/tcpecho.c
var tcpechoC string

//go:embed testdata/ptraceloop.c
var ptraceloopC string

//go:embed testdata/pwloop.c
var pwloopC string

//go:embed testdata/mkrm.c
var mkrmC string

//go:embed testdata/threadfiles.c
var threadfilesC string

//go:embed testdata/podnet.c
var podnetC string

//go:embed testdata/ptyloop.c
var ptyloopC string

//go:embed testdata/reread.c
var rereadC string

//go:embed testdata/truncloop.c
var truncloopC string

//go:embed testdata/kcmploop.c
var kcmploopC string

//go:embed testdata/restat.c
var restatC string

//go:embed testdata/exchloop.c
var exchloopC string

//go:embed testdata/copyloop.c
var copyloopC string

//go:embed testdata/readpairs.c
var readpairsC string

//go:embed testdata/tarnames.c
var tarnamesC string

//go:embed testdata/mmapgen.c
var mmapgenC string

//go:embed testdata/openloop.c
var openloopC string

//go:embed testdata/bigmap.c
var bigmapC string

//go:embed testdata/wmloop.c
var wmloopC string

//go:embed testdata/ldlike.c
var ldlikeC string

//go:embed testdata/procread.c
var procreadC string

// Prepare readies dir for w: it builds w's C program, if any, there.
func Prepare(dir string, w Workload) error {
	if w.CSource == "" {
		return nil
	}
	src := filepath.Join(dir, "prog.c")
	if err := os.WriteFile(src, []byte(w.CSource), 0o644); err != nil {
		return err
	}
	defer os.Remove(src)
	if out, err := exec.Command("gcc", "-static", "-O2", "-o", filepath.Join(dir, "prog"), src).CombinedOutput(); err != nil {
		return fmt.Errorf("build %s's program: %v\n%s", w.Name, err, out)
	}
	return nil
}

// Workloads are the workloads of the recovery guarantees
// (docs/ARCHITECTURE.md, "Guarantees").
var Workloads = []Workload{
	{
		Name: "append",
		Script: `i=0
while [ $i -lt 1500 ]; do
  echo "line $i" >> a.txt; echo "b $i" >> b.txt; echo "c $i $i" >> c.txt
  i=$((i+1))
done
wc -l a.txt b.txt c.txt; md5sum a.txt b.txt c.txt`,
	},
	{
		Name: "tar",
		Script: `mkdir src && cd src
i=0
while [ $i -lt 2000 ]; do echo "file $i" > f$i; i=$((i+1)); done
cd .. && tar cf t.tar src && mkdir out && cd out && tar xf ../t.tar && cd ..
ls out/src | wc -l; cat out/src/f* | md5sum; rm -r src t.tar`,
	},
	{
		Name:   "pipeline",
		Script: `head -c 120000000 /dev/zero | tr '\0' 'x' | tr 'x' 'y' | md5sum`,
	},
	{
		Name: "proctree",
		Script: `( i=0; while [ $i -lt 3000 ]; do echo "w $i" >> w.txt; i=$((i+1)); done ) &
w=$!
( seq 1 20000 | sort -rn > s.txt ) &
wait $w; echo writer $?; wait; echo all done; wc -l w.txt s.txt`,
	},
	{
		// Children ending with exit_group, posted by the client
		// (sentry/client/postexit.go): each status as its parent's
		// wait reports it, a kill landing before or after the posted
		// exit's reply.
		Name: "exits",
		Script: `i=0; while [ $i -lt 400 ]; do ( exit $((i % 7)) ); echo "$i $?"; /bin/busybox sh -c "exit $((i % 5))"; echo "$i $?"; i=$((i+1)); done > st.txt
wc -l st.txt; md5sum st.txt; rm st.txt`,
	},
	{
		// A shell's wait4(-1, WNOHANG) polls after each foreground
		// child while background jobs run, answered by the client
		// from the process records (sentry/client/childwait.go):
		// each job's status as its wait reports it.
		Name: "childpolls",
		Script: `( i=0; while [ $i -lt 300 ]; do /bin/busybox true; i=$((i+1)); done; exit 3 ) & a=$!
( i=0; while [ $i -lt 100 ]; do /bin/busybox true; i=$((i+1)); done; exit 4 ) & b=$!
i=0; while [ $i -lt 600 ]; do /bin/busybox true; r=$?; i=$((i+1)); done
wait $a; echo a $?; wait $b; echo b $?; echo last $r`,
	},
	{
		Name: "renamed-unlinked",
		Script: `echo start > held.txt
exec 3>>held.txt 4<held.txt
mv held.txt moved.txt
i=0; while [ $i -lt 800 ]; do echo "to moved $i" >&3; i=$((i+1)); done
rm moved.txt
i=0; while [ $i -lt 800 ]; do echo "to unlinked $i" >&3; i=$((i+1)); done
cat <&4 | md5sum; ls`,
	},
	{
		// A signal raised by a call whose reply was lost is raised
		// again when the call is re-sent: its handler must run once.
		// Each child signals the shell, which waits for it (a caught
		// signal a process sends itself never reaches the server:
		// sentry/client/ownsignal.go).
		Name:   "signals",
		Script: `n=0; trap 'n=$((n+1))' USR1; i=0; while [ $i -lt 1000 ]; do sh -c 'kill -USR1 $PPID'; i=$((i+1)); done; echo handled $n`,
	},
	{
		// Signal actions changed by posted calls (the client answers
		// rt_sigaction from its copy of the table): a change whose reply
		// was lost is re-sent, so each kill finds the action the shell
		// set last (ignored: not counted; default: the shell dies).
		Name:   "sigactions",
		Script: `n=0; i=0; while [ $i -lt 10000 ]; do trap 'n=$((n+1))' USR1; kill -USR1 $$; trap '' USR1; kill -USR1 $$; trap - USR1; i=$((i+1)); done; echo handled $n`,
	},
	{
		// Stdin the server buffered but the application had not read
		// when the server died must be read after recovery, once.
		Name: "stdin",
		Script: `head -c 1000000 > first.bin; md5sum first.bin
cat > rest.bin; md5sum rest.bin; wc -c first.bin rest.bin`,
		Stdin: numberedLines("stdin line", 600000),
	},
	{
		// Two processes store into one MAP_SHARED file mapping, with
		// msync, pwrite and a shared counter: dirty pages written back
		// (PageWrite) are retained like write(2) data, and a write-back
		// cut by a kill is applied once.
		Name:    "shmap",
		Script:  `./prog; rm prog; md5sum shared.bin`,
		CSource: shmapC,
	},
	{
		// A socketpair echo between two processes, with an eventfd
		// and epoll: the pair comes back with the data queued in it
		// (the server mirrors both directions) and the counters with
		// their values.
		Name:    "socketpair",
		Script:  `./prog 6000; rm prog`,
		CSource: pairechoC,
	},
	{
		// An epoll loop over a periodic timerfd and an eventfd: the
		// timerfd comes back armed (its missed expirations counted),
		// the epoll with its interests.
		Name:    "timerfd-epoll",
		Script:  `./prog 1500; rm prog`,
		CSource: tickloopC,
	},
	{
		// A loopback TCP echo server and its client in the same
		// sandbox: the listening socket comes back on the restored
		// server's stack, the established connection is reset
		// (ECONNRESET), and the client connects again and re-sends.
		Name:    "tcp-echo",
		Script:  `./prog 4000; rm prog`,
		CSource: tcpechoC,
	},
	{
		// A tracer following its child's system calls (ptrace): the
		// relation and the child's ptrace-stop come back with the
		// thread records, the stop call and the tracer's resume are
		// re-sent, and neither is taken twice.
		Name:    "ptrace",
		Script:  `./prog 1500; rm prog; md5sum out.txt`,
		CSource: ptraceloopC,
	},
	{
		// A loop of 4 KiB pwrites (and pread checks) and sequential
		// writes: with the gofer on the server's machine these are the
		// server's own pwrites through donated fds, which a gofer kill
		// leaves valid and a server kill replaces on Restore; no
		// acknowledged write may be lost either way.
		Name:    "pwrite-loop",
		Script:  `./prog 6000; rm prog; md5sum blocks.bin seq.bin`,
		CSource: pwloopC,
	},
	{
		// Files written into a tmpfs the application mounted, and into
		// /dev/shm: the mount (a record of the replay log) and both
		// directories come back, so no write is lost and the unmount
		// finds the mount.
		Name: "tmpfs",
		Script: `mkdir m && mount -t tmpfs -o size=8m,mode=755 chaos m || exit 1
s=/dev/shm/chaos-tmpfs-$$
i=0
while [ $i -lt 1500 ]; do
  echo "line $i" >> m/a.txt; mkdir -p m/d$((i%10)); echo "$i" > m/d$((i%10))/f; echo "shm $i" >> $s
  i=$((i+1))
done
wc -l m/a.txt; md5sum m/a.txt; cat m/d*/f | md5sum; md5sum < $s; rm $s
grep -c " $(pwd)/m " /proc/self/mountinfo
umount m && ls -A m | wc -l && rmdir m`,
	},
	{
		// Two loops, in parallel, that create files of each kind and
		// remove them again at once (mkdir/rmdir, create/unlink,
		// rename, symlink, link, mkfifo): a server killed after running
		// a creation and the removal that follows, before their replies
		// arrived, gets both re-sent to its successor, whose creation
		// is answered from the gofer's reply cache although the file
		// is gone (it must succeed, not give ESTALE).
		Name: "create-remove",
		Script: `loop() {
  mkdir $1 && cd $1 || exit 1
  i=0
  while [ $i -lt 80 ]; do
    s=mkdir; mkdir d$i && s=echo && echo "f $i" > d$i/f && s=mv && mv d$i/f d$i/g && s=lns && ln -s g d$i/s && s=ln && ln d$i/g d$i/h && s=rm && rm d$i/s d$i/h d$i/g && s=rmdir && rmdir d$i || echo "$1 dir $i failed at $s rc=$?"
    s=echo; echo "t $i" > t$i && s=rm && rm t$i || echo "$1 file $i failed at $s rc=$?"
    s=mkfifo; mkfifo p$i && s=rm && rm p$i || echo "$1 fifo $i failed at $s rc=$?"
    s=mkdir; mkdir e$i && s=mv && mv e$i r$i && s=rmdir && rmdir r$i || echo "$1 renamed dir $i failed at $s rc=$?"
    echo "$i" >> kept.txt
    i=$((i+1))
  done
}
( loop a ) & ( loop b ) & wait
ls -A a b; cat a/kept.txt b/kept.txt | md5sum`,
	},
	{
		// One thread creates directories, symlinks and FIFOs, another
		// removes each as soon as it appears: a creation and its
		// removal are often both in flight when the server dies, so
		// the successor gets the creation re-sent after its file is
		// gone. (Regular files would be unlinked while open, which the
		// gofer keeps for --orphan-linger after each kill, more than
		// Leak allows over 20 kills; create-remove covers them.)
		Name:    "create-remove-threads",
		Script:  `./prog 3000; rm prog; ls -A`,
		CSource: mkrmC,
	},
	{
		// A process re-reads a file it holds open (read in chunks,
		// pread, fstat: answered from the client's read cache) while
		// a child rewrites it, in lockstep: every read must show the
		// current version, though a kill takes the leases with the
		// server and the posted offset advances are re-sent.
		Name:    "reread",
		Script:  `./prog 400; rm prog; cat version.txt`,
		CSource: rereadC,
	},
	{
		// A process asks about paths (stat, lstat, access, readlink:
		// answered from the client's path cache while its lease holds)
		// that a child changes in lockstep (a file renamed over,
		// chmod, a name made and removed, a symlink pointed
		// elsewhere): every answer must show the current step, though
		// a kill takes the lease with the server and the changes in
		// flight are re-sent.
		Name:    "restat",
		Script:  `./prog 300; rm prog; ls -l d | wc -l`,
		CSource: restatC,
	},
	{
		// finds and ls -R over a tree of 165 directories (one of 20
		// subdirectories, more than a reply lists ahead), a file made
		// in a listed subdirectory each round: the listings of the
		// subdirectories come ahead with their parent's and the client
		// answers them, posting each with its cursor's end, so a kill
		// finds those calls (and the posted opens before them) in
		// flight; the new server must put each description's cursor at
		// its end, and every round must count what Linux does.
		Name:   "find-ahead",
		Script: treeRounds(`$(find t -type f | wc -l) $(ls -R t | wc -l)`),
	},
	{
		// GNU find (fts) over a tree of 165 directories, a file made
		// in a listed subdirectory each round: each directory's open
		// is posted, then moved to the fd of its dup when fts closes
		// the first fd (the dup and the close never sent, the open's
		// install_fd and its listing's call edited), and find's own
		// dup of each directory's fd is taken back with its close, so
		// a kill finds moved opens and edited listings in flight;
		// every round must count what Linux does.
		Name:   "gnu-find",
		Script: treeRounds(`$(/usr/bin/find t -type f | wc -l) $(/usr/bin/find t -type d -empty | wc -l)`),
	},
	{
		// GNU rm -r (fts) of a tree of 17 directories and 480 files,
		// made again each round: it lists each directory twice, the
		// second answered from the first's own listing or a listing
		// ahead (posted with its cursor's end), and posts its
		// unlinks (each naming the inode the server found) and
		// rmdirs, so a kill finds many in flight; every round must
		// remove the whole tree.
		Name: "gnu-rm",
		Script: `r=0
while [ $r -lt 6 ]; do
  i=0; while [ $i -lt 8 ]; do mkdir -p t/d$i/e; j=0; while [ $j -lt 30 ]; do : > t/d$i/f$j; : > t/d$i/e/g$j; j=$((j+1)); done; i=$((i+1)); done
  /usr/bin/rm -r t; echo "$r rm=$? $(ls | wc -l)"
  r=$((r+1))
done`,
	},
	{
		// A shell whose cwd is a directory named with bytes that are
		// not UTF-8, appending to a file so named and running a
		// child there each round (getcwd): its cwd record, the
		// children's, and the open file's path go through the state
		// records as bytes and must survive each kill.
		Name: "nonutf8-cwd",
		Script: `d=$(printf 'd\377\351'); f=$(printf 'f\377\200')
mkdir "$d" && cd "$d" || exit 1
i=0
while [ $i -lt 200 ]; do echo "line $i $(/bin/busybox pwd | sed 's|.*/||' | od -An -tx1)" >> "$f"; i=$((i+1)); done
ls | od -An -tx1; wc -l < "$f"; md5sum < "$f"; /bin/busybox pwd | sed 's|.*/||' | od -An -tx1`,
	},
	{
		// Files extracted as tar does (mkdir of each leading
		// directory, EEXIST but the first time; stat; unlink, ENOENT;
		// create), with the directory renamed away every seventh
		// file: the client answers the mkdirs of directories it knows
		// exist from its path cache and posts each creation (the
		// unlink's lease says the name is missing) with the fd it
		// chose, and each answer must be the model's, though a kill
		// takes the leases with the server and finds creations and
		// writes behind in flight.
		Name:    "tar-names",
		Script:  `./prog 400; rm prog; find t -type f | wc -l; ls t | wc -l`,
		CSource: tarnamesC,
	},
	{
		// Opens, fstats, reads and closes of the same files in a loop,
		// with a dup and a reopen each round: the opens are posted with
		// the fd the client chose and their fstat and reads answered
		// from the file's lease before the open's reply, so a kill
		// finds posted opens, lseeks and closes in flight, which the
		// new server must apply at the same fds and offsets.
		Name:    "reopen",
		Script:  `./prog 10000; rm prog; cat progress.txt`,
		CSource: openloopC,
	},
	{
		// Open, fstat, reads to the end and close of a small file in a
		// loop, as tar reads /etc/passwd for each member: the reads
		// answered from the lease post lseeks, which the close takes
		// back unsent with the posted open, so a kill finds such
		// opens and lseeks queued or in flight (and those of a file
		// read in more pieces than are taken back, which go); and the
		// umask set to 0 and back each round, both taken back unsent,
		// with files created under other umasks now and then.
		Name:    "read-pairs",
		Script:  `./prog 3000; rm prog; cat log.txt; stat -c '%a %n' m*.txt | md5sum; rm passwd.txt group.txt log.txt m*.txt`,
		CSource: readpairsC,
	},
	{
		// A sandbox on a pod's interface (--network=sandbox) and peers
		// outside it: numbered TCP exchanges over short connections and
		// UDP request/response with the host end, and a listener in the
		// sandbox that a client on the host keeps reaching. A kill resets
		// the connections to the outside and may drop datagrams; the
		// listener is re-bound on the new server's stack; both sides
		// retry what failed, so the output is the same as native. The
		// retries show on stderr and in Outcome.PeerRetries.
		Name:    "pod-network",
		Script:  `./prog "$POD_HOST" "$POD_TCP" "$POD_UDP" "$POD_LISTEN" 2000; rm prog; cat served.txt; rm served.txt`,
		CSource: podnetC,
		Pod:     &PodPeers{Pings: 2000},
	},
	{
		// Numbered requests through a pty made in the sandbox (raw
		// mode, a window size set before each, a child whose
		// controlling terminal it is), and a second pair opened and
		// closed now and then: the terminals come back with their
		// modes, size, session and queued bytes; the parent sends a
		// request again when its answer does not come (counted on
		// stderr: the rare read or write in flight at a kill whose
		// effect another message had reported).
		Name:    "pty",
		Script:  `./prog 8000; rm prog`,
		CSource: ptyloopC,
	},
	{
		// Size changes between writes to the same files (ftruncate,
		// truncate(2), O_TRUNC opens, fallocate's modes), each file
		// checked against the program's model after every step: the
		// writes a client retains and re-sends after a kill must not
		// bring back what a later size change removed, nor a size
		// change undo a later write.
		Name:    "truncate-rewrite",
		Script:  `./prog 3000; rm prog`,
		CSource: truncloopC,
	},
	{
		// Runs of writes behind merged into one call each
		// (sentry/client/writemerge.go): sequential writes of mixed
		// sizes, contiguous pwrites and O_APPEND writes. A merged call
		// in flight at a kill is re-sent whole and applied once, its
		// description's offset and the append end where the unmerged
		// writes would have left them.
		Name:    "write-merge",
		Script:  `./prog 400; rm prog; md5sum seq.bin blocks.bin app.txt; wc -c seq.bin blocks.bin app.txt`,
		CSource: wmloopC,
	},
	{
		// Files written as a linker writes its output: created, written
		// in pieces, then read back, patched and measured (SEEK_END)
		// round after round, each answer checked. The client owns each
		// file (sentry/client/ownedfile.go): its reads and lseeks are
		// answered from its copy and its writes posted as owned writes.
		// A recovery drops the copies, so the next lseek or read asks
		// the new server, whose file must hold every write the
		// application was told of, once.
		// The second run makes its files in a directory it made, so
		// their creations are posted and each copy starts at its post,
		// and changes their sizes with ftruncate too, posted as owned
		// changes (truncateBehind).
		Name:    "owned-file",
		Script:  `./prog 20 300 slow; ./prog 20 300 slow,dir,trunc; rm prog`,
		CSource: ldlikeC,
	},
	{
		// /proc/self/cgroup, mountinfo and environ read to the end in
		// pieces, each checked against whole reads (procread.c): the
		// client answers the reads from the content an open's reply
		// brought and posts them (sentry/client/procdata.go), so a
		// recovery mid-file finds the new server's offset where the
		// application's reads left it.
		Name:    "proc-read",
		Script:  `./prog 12 slow; rm prog; ls`,
		CSource: procreadC,
	},
	{
		// Two names swapped by renameat2(RENAME_EXCHANGE) again and
		// again, each checked after every swap: an exchange in flight
		// at a kill is re-sent and applied once, not swapped back.
		Name:    "exchange",
		Script:  `./prog 1500; rm prog`,
		CSource: exchloopC,
	},
	{
		// Writes behind (posted without waiting: a regular file opened
		// without O_APPEND) through one fd and a pwrite-like rewrite in
		// place with dd, and tar's posted chown, chmod and utimensat:
		// each posted call in flight at a kill is re-sent and applied
		// once.
		Name: "write-behind",
		Script: `exec 3>w.txt
i=0
while [ $i -lt 3000 ]; do echo "line $i" >&3; i=$((i+1)); done
exec 3>&-
echo REWRITTEN | dd of=w.txt bs=1 seek=100 conv=notrunc 2>/dev/null
mkdir src && i=0; while [ $i -lt 300 ]; do echo "f $i" > src/f$i; i=$((i+1)); done
tar cf t.tar src && rm -r src && tar xf t.tar && stat -c '%a %s %n' src/* | md5sum
wc -l w.txt; md5sum w.txt; cat src/f* | md5sum; rm -r src t.tar`,
	},
	{
		// tar restoring each member's mode and times, round after
		// round: the merged SetStat of its posted chmod and utimensat
		// rides the gofer's next call (goferclient's posted SetStats),
		// so a kill of the server finds posted calls whose replies wait
		// for it (replayed) and a kill of the gofer finds SetStats
		// queued or carried (sent again to the new gofer). The modes
		// and mtimes are checked: a member's write retained at a kill
		// is re-sent (Rewrite) after its answered utimensat, and must
		// not move the mtime (kernel's Rewrite puts it back;
		// -chaos.seed=1796238963668763695, 8 kills, showed it moved).
		// Each member's line is printed whole, so a difference names it.
		Name: "tar-attrs",
		Script: `mkdir src && i=0; while [ $i -lt 300 ]; do echo "f $i" > src/f$i; chmod 6$((i%8))$((i%5)) src/f$i; touch -d "2001-01-0$((i%9+1)) 00:00:$((i%50+10))" src/f$i; i=$((i+1)); done
r=0; while [ $r -lt 6 ]; do tar cf t.tar src && rm -r src && tar xf t.tar && rm t.tar; r=$((r+1)); done
stat -c '%a %Y %s %n' src/*; cat src/f* | md5sum; rm -r src`,
	},
	{
		// Copies from a read-leased archive into new files, with
		// sendfile and copy_file_range at the file offset and at
		// explicit ones, as tar extracts: posted with the bytes read
		// from the lease (leased copies); each one in flight at a kill
		// is re-sent with its bytes and applied once, and the
		// archive's offset is the one the application was told.
		Name:    "leased-copy",
		Script:  `./prog 1500 && cat o/* | md5sum; ls o | wc -l; rm -r o arc prog`,
		CSource: copyloopC,
	},
	{
		// cat of the names a glob listed, into a pipe, round after
		// round, one file rewritten between rounds: cat's first copy
		// asks the leases of the next files ahead, the posted opens
		// of those files attach to them and their copies into the
		// pipe are posted with the leased bytes, so a kill finds
		// posted opens and copies in flight (re-sent with their
		// bytes) and takes the leases ahead with the server; each
		// round must show the rewritten file. Each round cats them
		// into a file too (out, left for the comparison; its copies
		// are posted while the previous file's are in flight, the
		// leases naming their files' handles), and every eighth into
		// the first of them (w/f0, whose own copy waits).
		Name: "cat-ahead",
		Script: `mkdir w && i=0; while [ $i -lt 300 ]; do echo "f $i" > w/f$i; i=$((i+1)); done
r=0
while [ $r -lt 40 ]; do
  echo "$r $(cat w/f* | md5sum) $(cat w/f2* | wc -c)"; echo "round $r" > w/f$((r * 7 % 300))
  cat w/f* > out; echo "$r out $(md5sum < out)"
  if [ $((r % 8)) = 3 ]; then cat w/f* > w/f0; echo "$r f0 $(md5sum < w/f0)"; fi
  r=$((r+1))
done
rm -r w`,
	},
	{
		// Dynamically linked programs run round after round: ld.so
		// maps each library four or five times, and all but the first
		// mmap of a library the client maps already come from the plan
		// kept on its read lease, with no call (mmapreuse.go); a kill
		// finds processes mapping from kept plans, and the recovery
		// drops the leases and their plans (the next mmap is forwarded
		// to the new server). A file read by each round is rewritten
		// in turn. Every fiftieth round gcc's cc1 (33 MB, faulted in
		// aligned 4 MiB windows: mappable.go) compiles a function; at
		// each process's exit the files only it mapped (its binary,
		// cc1's libraries) are released in posted FileReleases, which
		// a kill finds in flight (re-sent, each reference dropped
		// once) and the recovery's restored ids must serve the next
		// processes' pages.
		Name: "ldso-maps",
		Script: `i=0; cc1=$(/usr/bin/gcc -print-prog-name=cc1)
while [ $i -lt 200 ]; do /usr/bin/expr $i \* 7 + 1; echo "r $i" > f$((i % 5)); /usr/bin/cksum f$((i % 5))
  if [ $((i % 50)) = 0 ]; then echo "int f$i(int x) { return x * $i + 1; }" | $cc1 -quiet -O2 -o - | /usr/bin/cksum; fi
  i=$((i+1)); done > out.txt
md5sum out.txt; wc -l out.txt; rm -f out.txt f0 f1 f2 f3 f4`,
	},
	{
		// Programs whose files no other process maps between two runs:
		// ld.so.cache, each program's locale files and its own
		// libraries (libm for mawk, libgmp for expr, iconv's gconv
		// module), and gconv-modules.cache, which glibc maps shared
		// read-only. Each is mapped from the plan kept on its read
		// lease and the client's whole copy, the mmap posted for the
		// server's reference (sentry/client/mmapreuse.go); a kill finds
		// such mmaps in flight (re-sent: the restored server may hand
		// another id, released at once, and the files mapped without a
		// counted plan are forgotten) and the next runs must map the
		// same bytes.
		Name: "replan-maps",
		Script: `i=0; while [ $i -lt 60 ]; do printf 'r%d h\351llo\n' $i | /usr/bin/iconv -f latin1 -t iso-8859-15 | /usr/bin/cksum
  echo "$i 7" | /usr/bin/mawk '{print $1 * $2, int(sqrt($1))}'; /usr/bin/expr $i + 3; i=$((i+1)); done > out.txt
md5sum out.txt; wc -l out.txt; tail -3 out.txt; rm out.txt`,
	},
	{
		// A mapped file's server id moves gen (a chmod moves its
		// ctime) while the process holds a private mapping with a
		// written page: each round's new mapping refreshes the
		// client's pages in place (sentry/server/mapped, client
		// serverFile.refresh), a kill restores the ids at gen 0 and
		// the next plan refreshes again; every round must print the
		// file's current bytes in both mappings and the held
		// mapping's private copy.
		Name:    "mmap-gen",
		Script:  `./prog 1500 > out.txt; rm prog; md5sum out.txt mapped.dat; tail -2 out.txt; rm out.txt mapped.dat`,
		CSource: mmapgenC,
	},
	{
		// A 6 MiB file mapped private and read whole after each
		// rewrite of a 64 KiB run with write(2): its pages come
		// through the host fd the server lent (mapped fds) or, while
		// a write behind to it is in flight, by PageRead; a kill
		// leaves the client's fd, its cached pages and the writes in
		// flight to the recovery.
		Name:    "big-map",
		Script:  `./prog 60 > out.txt; rm prog; md5sum out.txt big.dat; tail -2 out.txt; rm out.txt big.dat`,
		CSource: bigmapC,
	},
	{
		// kcmp's raw answers (shared or not, and the order of
		// different objects) among a process, a fork child, clones
		// sharing everything or only the address space and a thread,
		// and for dup'ed and reopened fds, compared each round with
		// the first: the replay ids the order comes from
		// (ProcessState.vm, ThreadState.io and sysvsem, the files',
		// fd tables', fs contexts' and dispositions') must survive
		// every kill.
		Name:    "kcmp-order",
		Script:  `./prog 200; rm prog; tail -1 rounds.txt`,
		CSource: kcmploopC,
	},
	{
		// A process with several threads, as a Go program: one blocked
		// reading a pipe, two writing, checking and closing their own
		// files and appending to a shared one. Its writes behind,
		// closes and F_SETFLs are posted (threadorder.go: the other
		// threads' calls in flight are neutral), its reads answered
		// from the read cache: each posted call in flight at a kill is
		// re-sent and applied once, in its order (after_posted), and
		// every read-back after a recovery sees every write. The shared
		// file, whose interleaving is the threads' race, is checked by
		// the program and removed. The program ends counting the fds
		// it has open beyond those at its start: an open re-sent after
		// a kill that made its fd a second time would leave one more
		// (syscalls.FDMadeBefore).
		Name:    "thread-files",
		Script:  `./prog 300; rm prog; md5sum t1.txt t2.txt; wc -l shared.txt; rm shared.txt`,
		CSource: threadfilesC,
		// Said, though the default: the case is about it.
		DoFlags: []string{"--threaded-posting"},
	},
	{
		// thread-files with the blocked thread waiting for a child
		// through its pidfd (waitid(P_PIDFD), as Go's os/exec waits
		// for each command the go command runs): a neutral call naming
		// the pidfd, beside which the writers' closes, opens and
		// writes behind are posted (threadorder.go).
		Name:    "thread-files-pidfd",
		Script:  `./prog 300 pidfd; rm prog; md5sum t1.txt t2.txt; wc -l shared.txt; rm shared.txt`,
		CSource: threadfilesC,
		DoFlags: []string{"--threaded-posting"},
	},
}

// treeRounds is the script of a walk over a tree of 165 directories (4
// × 20 × 2, a file in each of the deepest two levels): 30 rounds, each
// printing its number and what count says of the tree, then making a
// file in one of the deepest directories.
func treeRounds(count string) string {
	return `for a in 0 1 2 3; do b=0; while [ $b -lt 20 ]; do mkdir -p t/a$a/b$b/c && echo x > t/a$a/b$b/f && echo y > t/a$a/b$b/c/g; b=$((b+1)); done; done
i=0
while [ $i -lt 30 ]; do
  echo "$i ` + count + `"; touch t/a$((i % 4))/b$((i % 20))/c/n$i
  i=$((i+1))
done`
}

// numberedLines returns n lines "prefix i".
func numberedLines(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s %d\n", prefix, i)
	}
	return b.String()
}

// Find returns the workload called name.
func Find(name string) (Workload, bool) {
	for _, w := range Workloads {
		if w.Name == name {
			return w, true
		}
	}
	return Workload{}, false
}
