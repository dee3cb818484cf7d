/* Semaphores: values, semop with IPC_NOWAIT and timeouts, a ping-pong
 * between two processes, SEM_UNDO at exit, GETNCNT/GETZCNT of blocked
 * waiters, EIDRM for waiters of a removed set, EINTR on a signal, and
 * the errno cases. */
#include <time.h>

static void onalrm(int sig) { (void)sig; }

static int op(int id, unsigned short num, short delta, short flg) {
	struct sembuf b = {.sem_num = num, .sem_op = delta, .sem_flg = flg};
	return semop(id, &b, 1);
}

/* waitfor spins until GETNCNT (or GETZCNT) of sem num is n. */
static void waitfor(int id, int cmd, int num, int n) {
	for (int i = 0; i < 2000 && semctl(id, num, cmd) != n; i++)
		usleep(5000);
}

int main(void) {
	int id;
	must(id = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600));
	T(semctl(id, 0, GETVAL));
	T(semctl(id, 0, SETVAL, (union semun){.val = 5}));
	T(semctl(id, 0, GETVAL));
	unsigned short all[3] = {1, 2, 3}, got[3] = {0};
	T(semctl(id, 0, SETALL, (union semun){.array = all}));
	T(semctl(id, 0, GETALL, (union semun){.array = got}));
	printf("values %d %d %d\n", got[0], got[1], got[2]);
	T(semctl(id, 1, GETPID) == getpid());
	struct semid_ds ds;
	T(semctl(id, 0, IPC_STAT, (union semun){.buf = &ds}));
	printf("nsems %lu mode %o uid %u\n", (unsigned long)ds.sem_nsems, ds.sem_perm.mode & 0777, ds.sem_perm.uid);

	/* Several operations at once: all or nothing. */
	struct sembuf two[2] = {{0, -1, IPC_NOWAIT}, {1, -5, IPC_NOWAIT}};
	T(semop(id, two, 2));
	T(semctl(id, 0, GETVAL));
	two[1].sem_op = -2;
	T(semop(id, two, 2));
	T(semctl(id, 0, GETVAL));
	T(semctl(id, 1, GETVAL));
	T(op(id, 0, 0, IPC_NOWAIT)); /* wait-for-zero: value is 0 */
	T(op(id, 2, 0, IPC_NOWAIT)); /* value 3: EAGAIN */
	struct timespec ts = {0, 50 * 1000 * 1000};
	struct sembuf dec = {0, -1, 0};
	T(semtimedop(id, &dec, 1, &ts));

	/* Ping-pong: sem 0 is the parent's turn, sem 1 the child's. */
	T(semctl(id, 0, SETVAL, (union semun){.val = 0}));
	T(semctl(id, 1, SETVAL, (union semun){.val = 0}));
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 200; i++) {
			if (op(id, 1, -1, 0) < 0 || op(id, 0, 1, 0) < 0)
				_exit(1);
		}
		_exit(0);
	}
	int rounds = 0;
	for (int i = 0; i < 200; i++) {
		if (op(id, 1, 1, 0) < 0 || op(id, 0, -1, 0) < 0)
			break;
		rounds++;
	}
	printf("ping-pong rounds %d\n", rounds);
	waitchild("ping-pong child", pid);

	/* SEM_UNDO: the child's +3 and -1 are undone at its exit. */
	T(semctl(id, 2, SETVAL, (union semun){.val = 1}));
	pid = fork();
	if (pid == 0) {
		op(id, 2, 3, SEM_UNDO);
		op(id, 2, -1, SEM_UNDO);
		printf("child sees %d\n", semctl(id, 2, GETVAL));
		_exit(0);
	}
	waitchild("undo child", pid);
	T(semctl(id, 2, GETVAL));

	/* Blocked waiters are counted, and woken by a change. */
	pid = fork();
	if (pid == 0) {
		/* Children that run while the parent prints report by exit
		 * status (0, or the errno), so the output order is fixed. */
		_exit(op(id, 0, -2, 0) < 0 ? errno : 0);
	}
	waitfor(id, GETNCNT, 0, 1);
	T(semctl(id, 0, GETNCNT));
	T(semctl(id, 0, GETZCNT));
	T(op(id, 0, 1, 0));
	usleep(100000);
	T(semctl(id, 0, GETNCNT)); /* still waiting: needs 2 */
	T(op(id, 0, 1, 0));
	waitchild("waiter", pid);
	T(semctl(id, 0, GETVAL));

	/* A signal interrupts semop with EINTR even with SA_RESTART. */
	struct sigaction sa = {.sa_handler = onalrm, .sa_flags = SA_RESTART};
	sigaction(SIGALRM, &sa, NULL);
	alarm(1);
	T(op(id, 0, -1, 0));

	/* Removing the set wakes its waiters with EIDRM. */
	pid = fork();
	if (pid == 0) {
		_exit(op(id, 1, -1, 0) < 0 ? errno : 0); /* EIDRM is 43 */
	}
	waitfor(id, GETNCNT, 1, 1);
	T(semctl(id, 0, IPC_RMID));
	waitchild("removed waiter", pid);

	/* Errors. */
	T(semctl(id, 0, GETVAL));
	must(id = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600));
	T(op(id, 2, 1, 0));
	T(semop(id, two, 0));
	struct sembuf many[501] = {0};
	T(semop(id, many, 501));
	T(semop(-1, two, 1));
	T(semctl(id, 0, SETVAL, (union semun){.val = 40000}));
	T(semctl(id, 0, SETVAL, (union semun){.val = -1}));
	T(semctl(id, 5, GETVAL));
	T(semctl(id, 0, 999));
	T(op(id, 0, 32767, 0));
	T(op(id, 0, 1, 0));
	T(semget(IPC_PRIVATE, 0, IPC_CREAT | 0600));
	T(semget(IPC_PRIVATE, 40000, IPC_CREAT | 0600));
	key_t key = 0x52440000 + (getpid() & 0xffff);
	int kid;
	T(semget(key, 1, 0600));
	TOK(kid = semget(key, 2, IPC_CREAT | 0600));
	T(semget(key, 2, 0600) == kid);
	T(semget(key, 3, 0600));
	T(semget(key, 1, IPC_CREAT | IPC_EXCL | 0600));
	T(semctl(kid, 0, IPC_RMID));
	T(semctl(id, 0, IPC_RMID));

	/* Permissions: a set readable but not writable by others. */
	must(id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0644));
	pid = fork();
	if (pid == 0) {
		must(setgid(65534));
		must(setuid(65534));
		T(semctl(id, 0, GETVAL));
		T(op(id, 0, 1, IPC_NOWAIT));
		T(op(id, 0, 0, IPC_NOWAIT));
		T(semctl(id, 0, SETVAL, (union semun){.val = 1}));
		T(semctl(id, 0, IPC_RMID));
		_exit(0);
	}
	waitchild("other user", pid);
	T(semctl(id, 0, IPC_RMID));
	return 0;
}
