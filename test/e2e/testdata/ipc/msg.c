/* Message queues: types (first, exact, lowest up to, MSG_EXCEPT),
 * E2BIG and MSG_NOERROR, a full queue, blocked senders and receivers
 * woken by the other side, EIDRM on removal, EINTR on a signal, and the
 * errno cases. Children that run while the parent prints report by
 * exit status (0, or the errno). */

struct msg {
	long type;
	char text[64];
};

static void onalrm(int sig) { (void)sig; }

static int snd(int id, long type, const char *text, int flags) {
	struct msg m = {.type = type};
	strcpy(m.text, text);
	return msgsnd(id, &m, strlen(text), flags);
}

static void rcv(int id, size_t size, long type, int flags) {
	struct msg m = {0};
	ssize_t n = msgrcv(id, &m, size, type, flags);
	if (n < 0)
		printf("msgrcv(size %zu, type %ld, flags %#x) = -1 %s\n", size, type, flags, strerrorname_np(errno));
	else
		printf("msgrcv(size %zu, type %ld, flags %#x) = %zd: type %ld \"%.*s\"\n", size, type, flags, n, m.type, (int)n, m.text);
}

static void qstat(int id) {
	struct msqid_ds ds;
	if (msgctl(id, IPC_STAT, &ds) < 0) {
		printf("IPC_STAT = -1 %s\n", strerrorname_np(errno));
		return;
	}
	printf("qnum %lu cbytes %lu qbytes %lu mode %o\n", (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes,
	       (unsigned long)ds.msg_qbytes, ds.msg_perm.mode & 0777);
}

int main(void) {
	int id;
	must(id = msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	qstat(id);
	T(snd(id, 3, "three", 0));
	T(snd(id, 1, "one", 0));
	T(snd(id, 2, "two", 0));
	T(snd(id, 1, "uno", 0));
	qstat(id);
	rcv(id, 64, 2, 0);
	rcv(id, 64, -3, 0);       /* lowest type <= 3: "one" */
	rcv(id, 64, 1, MSG_EXCEPT); /* first not of type 1: "three" */
	rcv(id, 2, 0, 0);         /* "uno" is too long: E2BIG, stays */
	rcv(id, 2, 0, MSG_NOERROR);
	rcv(id, 64, 0, IPC_NOWAIT);
	qstat(id);

	/* A receiver blocks until a message of its type arrives. */
	pid_t pid = fork();
	if (pid == 0) {
		struct msg m;
		ssize_t n = msgrcv(id, &m, sizeof m.text, 7, 0);
		_exit(n == 5 && m.type == 7 && memcmp(m.text, "seven", 5) == 0 ? 0 : 1);
	}
	usleep(100000);
	T(snd(id, 6, "six", 0));
	T(snd(id, 7, "seven", 0));
	waitchild("receiver", pid);
	rcv(id, 64, 0, IPC_NOWAIT);

	/* A full queue: EAGAIN, or a sender that waits for a receiver. */
	struct msqid_ds ds;
	must(msgctl(id, IPC_STAT, &ds));
	ds.msg_qbytes = 10;
	T(msgctl(id, IPC_SET, &ds));
	qstat(id);
	T(snd(id, 1, "12345678", 0));
	T(snd(id, 1, "abc", IPC_NOWAIT));
	pid = fork();
	if (pid == 0)
		_exit(snd(id, 1, "abc", 0) < 0 ? errno : 0);
	usleep(100000);
	rcv(id, 64, 0, 0);
	waitchild("blocked sender", pid);
	rcv(id, 64, 0, 0);

	/* A signal interrupts msgrcv with EINTR even with SA_RESTART. */
	struct sigaction sa = {.sa_handler = onalrm, .sa_flags = SA_RESTART};
	sigaction(SIGALRM, &sa, NULL);
	alarm(1);
	rcv(id, 64, 0, 0);

	/* Removal wakes a blocked receiver with EIDRM (43). */
	pid = fork();
	if (pid == 0) {
		struct msg m;
		_exit(msgrcv(id, &m, sizeof m.text, 0, 0) < 0 ? errno : 0);
	}
	waitsleeping(pid);
	T(msgctl(id, IPC_RMID, NULL));
	waitchild("removed receiver", pid);

	/* Errors. */
	T(snd(id, 1, "x", 0));
	must(id = msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	T(snd(id, 0, "x", 0));
	struct msg m = {.type = 1};
	T(msgsnd(id, &m, 8193, 0));
	T(msgsnd(id, &m, (size_t)-1, 0));
	T(msgsnd(-1, &m, 1, 0));
	T(msgsnd(id, (void *)8, 1, 0));
	rcv(id, (size_t)-1, 0, IPC_NOWAIT);
	T(msgctl(id, 999, NULL));
	key_t key = 0x52450000 + (getpid() & 0xffff);
	int kid;
	T(msgget(key, 0600));
	TOK(kid = msgget(key, IPC_CREAT | 0600));
	T(msgget(key, 0) == kid);
	T(msgget(key, IPC_CREAT | IPC_EXCL | 0600));
	T(msgctl(kid, IPC_RMID, NULL));

	/* Permissions: a queue others may read but not write. */
	struct msqid_ds ds2;
	must(msgctl(id, IPC_STAT, &ds2));
	ds2.msg_perm.mode = 0604;
	ds2.msg_qbytes = 16384;
	T(msgctl(id, IPC_SET, &ds2));
	T(snd(id, 5, "five", 0));
	pid = fork();
	if (pid == 0) {
		must(setgid(65534));
		must(setuid(65534));
		T(snd(id, 1, "x", IPC_NOWAIT));
		rcv(id, 64, 0, IPC_NOWAIT);
		struct msqid_ds d;
		T(msgctl(id, IPC_STAT, &d));
		T(msgctl(id, IPC_SET, &d));
		T(msgctl(id, IPC_RMID, NULL));
		_exit(0);
	}
	waitchild("other user", pid);
	T(msgctl(id, IPC_RMID, NULL));
	return 0;
}
