/* A semaphore, message queue and shared memory exchange that the test
 * runs across a kill -9 of the remote sentry: the parent sends message
 * i and waits on a semaphore; the child receives it, checks it, counts
 * it in a shared memory segment and posts the semaphore. The child also
 * holds a SEM_UNDO adjustment, undone at its exit. Nothing may be lost
 * or done twice. The parent writes its round to "progress" for the test
 * to time the kill. */

struct msg {
	long type;
	int round;
};

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 300;
	int sem, q, shm;
	must(sem = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600));
	must(q = msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	must(shm = shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600));
	volatile int *counter = shmat(shm, NULL, 0);
	must((long)counter);
	pid_t pid = fork();
	if (pid == 0) {
		struct sembuf hold = {2, 5, SEM_UNDO}, post = {0, 1, 0};
		int bad = 0;
		must(semop(sem, &hold, 1));
		for (int i = 0; i < rounds; i++) {
			struct msg m;
			if (msgrcv(q, &m, sizeof m.round, 1, 0) != sizeof m.round || m.round != i)
				bad++;
			counter[0]++;
			counter[1024 + i % 1024] = i;
			if (semop(sem, &post, 1) < 0)
				bad++;
		}
		_exit(bad);
	}
	struct sembuf wait = {0, -1, 0};
	int bad = 0;
	for (int i = 0; i < rounds; i++) {
		struct msg m = {.type = 1, .round = i};
		if (msgsnd(q, &m, sizeof m.round, 0) < 0)
			bad++;
		if (semop(sem, &wait, 1) < 0)
			bad++;
		if (counter[0] != i + 1)
			bad++;
		int p = open("progress", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dprintf(p, "%d\n", i + 1);
		close(p);
		usleep(10000);
	}
	waitchild("child", pid);
	printf("rounds %d, counter %d, %d unexpected results\n", rounds, counter[0], bad);
	printf("sem values %d %d %d\n", semctl(sem, 0, GETVAL), semctl(sem, 1, GETVAL), semctl(sem, 2, GETVAL));
	struct msqid_ds ds;
	T(msgctl(q, IPC_STAT, &ds));
	printf("messages left %lu\n", (unsigned long)ds.msg_qnum);
	struct shmid_ds sds;
	T(shmctl(shm, IPC_STAT, &sds));
	printf("nattch %lu\n", (unsigned long)sds.shm_nattch);
	T(shmdt((void *)counter));
	T(shmctl(shm, IPC_RMID, NULL));
	T(msgctl(q, IPC_RMID, NULL));
	T(semctl(sem, 0, IPC_RMID));
	return 0;
}
