/* Shared memory: a segment shared across fork and by a second attach,
 * attach counts, IPC_RMID while attached (the segment lives on until
 * the last detach), SHM_RDONLY, fixed addresses, exec and exit
 * detaching, and the errno cases. Children that run while the parent
 * prints report by exit status. */
#include <dirent.h>
#include <setjmp.h>
#include <sys/mman.h>

static void nattch(int id) {
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) < 0) {
		printf("IPC_STAT = -1 %s\n", strerrorname_np(errno));
		return;
	}
	printf("segsz %zu nattch %lu mode %o%s\n", ds.shm_segsz, (unsigned long)ds.shm_nattch, ds.shm_perm.mode & 0777,
	       ds.shm_perm.mode & SHM_DEST ? " dest" : "");
}

int main(int argc, char **argv) {
	if (argc > 1) {
		/* Exec'd child: the attachments of the old image are gone. */
		int id = atoi(argv[1]);
		nattch(id);
		return 0;
	}
	int id;
	must(id = shmget(IPC_PRIVATE, 10000, IPC_CREAT | 0600));
	nattch(id);
	char *p = shmat(id, NULL, 0);
	TOK(p);
	nattch(id);
	printf("fresh bytes %d %d\n", p[0], p[9999]);
	/* A segment is not a file of /dev/shm (the sandbox keeps its memory
	 * in one, unlisted). */
	DIR *dir = opendir("/dev/shm");
	int listed = 0;
	for (struct dirent *e; dir != NULL && (e = readdir(dir)) != NULL;)
		listed += strncmp(e->d_name, ".rd-sysv-shm-", 13) == 0;
	if (dir != NULL)
		closedir(dir);
	printf("segment files listed in /dev/shm: %d\n", listed);
	strcpy(p, "parent");
	strcpy(p + 9000, "tail");

	pid_t pid = fork();
	if (pid == 0) {
		int ok = strcmp(p, "parent") == 0;
		strcpy(p + 100, "child");
		/* A second attach of the same segment sees the same memory. */
		char *q = shmat(id, NULL, 0);
		ok = ok && q != (void *)-1 && strcmp(q + 9000, "tail") == 0;
		strcpy(q + 200, "second");
		_exit(ok ? 0 : 1);
	}
	waitchild("writer", pid);
	printf("after child: \"%s\" \"%s\" \"%s\"\n", p, p + 100, p + 200);
	nattch(id); /* the child's attachments went with its exit */

	pid = fork();
	if (pid == 0) {
		usleep(300000);
		_exit(0);
	}
	usleep(100000);
	nattch(id); /* the child's inherited attachment counts */
	waitchild("sleeper", pid);

	/* exec detaches. */
	pid = fork();
	if (pid == 0) {
		char arg[16];
		snprintf(arg, sizeof arg, "%d", id);
		execl("/proc/self/exe", argv[0], arg, (char *)NULL);
		_exit(127);
	}
	waitchild("exec child", pid);

	/* A second attach at a chosen address. */
	char *fixed = (char *)0x7e0000000000;
	char *r = shmat(id, fixed, SHM_RDONLY);
	T(r == fixed);
	printf("read-only attach sees \"%s\"\n", r);
	nattch(id);
	pid = fork();
	if (pid == 0) {
		r[0] = 'x'; /* SIGSEGV */
		_exit(0);
	}
	waitchild("store to read-only", pid);
	T(shmat(id, fixed, 0) == (void *)-1); /* taken: EINVAL */
	T(shmat(id, fixed, SHM_REMAP) == fixed); /* replaces the first */
	nattch(id);
	T(shmdt(fixed));
	T(shmat(id, fixed + 1, 0) == (void *)-1);
	T(shmat(id, fixed + 1, SHM_RND) == fixed);
	T(shmdt(fixed));
	T(shmdt(fixed));
	T(shmdt(p + 4096));

	/* Linux counts mappings: mprotect splits one, munmap removes one,
	 * shmdt removes those left of the attach. */
	char *m = shmat(id, NULL, 0);
	nattch(id);
	T(mprotect(m + 4096, 4096, PROT_READ));
	nattch(id);
	T(munmap(m + 8192, 4096));
	nattch(id);
	T(shmdt(m));
	nattch(id);
	m = shmat(id, NULL, 0);
	T(munmap(m, 12288));
	nattch(id);

	/* IPC_RMID while attached: usable until the last detach. */
	T(shmctl(id, IPC_RMID, NULL));
	nattch(id);
	strcpy(p + 300, "still here");
	printf("after IPC_RMID: \"%s\"\n", p + 300);
	T(shmdt(p));
	nattch(id);
	T(shmat(id, NULL, 0) == (void *)-1);

	/* Errors. */
	T(shmget(IPC_PRIVATE, 0, IPC_CREAT | 0600));
	key_t key = 0x52460000 + (getpid() & 0xffff);
	int kid;
	T(shmget(key, 4096, 0600));
	TOK(kid = shmget(key, 4096, IPC_CREAT | 0600));
	T(shmget(key, 4096, 0600) == kid);
	T(shmget(key, 8192, 0600));
	T(shmget(key, 100, IPC_CREAT | IPC_EXCL | 0600));
	T(shmat(-1, NULL, 0) == (void *)-1);
	T(shmat(kid, NULL, SHM_REMAP) == (void *)-1);
	T(shmctl(kid, 999, NULL));
	T(shmctl(-1, IPC_STAT, NULL));
	struct shmid_ds ds;
	T(shmctl(kid, IPC_STAT, &ds));
	ds.shm_perm.mode = 0640;
	T(shmctl(kid, IPC_SET, &ds));
	nattch(kid);
	pid = fork();
	if (pid == 0) {
		must(setgid(65534));
		must(setuid(65534));
		T(shmat(kid, NULL, 0) == (void *)-1);
		T(shmctl(kid, IPC_STAT, &ds));
		T(shmctl(kid, IPC_RMID, NULL));
		_exit(0);
	}
	waitchild("other user", pid);
	T(shmctl(kid, IPC_RMID, NULL));
	T(shmctl(kid, IPC_STAT, &ds));

	/* Processes attaching a new segment at once (its first attach
	 * makes the segment's memory). */
	int cid;
	must(cid = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600));
	pid_t kids[6];
	for (int i = 0; i < 6; i++) {
		if ((kids[i] = fork()) == 0) {
			int *c = shmat(cid, NULL, 0);
			if (c == (void *)-1)
				_exit(errno);
			__atomic_add_fetch(c, 1, __ATOMIC_SEQ_CST);
			_exit(0);
		}
	}
	for (int i = 0; i < 6; i++)
		waitchild("concurrent attacher", kids[i]);
	int *cnt = shmat(cid, NULL, SHM_RDONLY);
	printf("attachers counted %d\n", *cnt);
	T(shmdt(cnt));
	T(shmctl(cid, IPC_RMID, NULL));

	/* SHM_REMAP over another segment. */
	int rid;
	must(rid = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600));
	T(shmat(rid, fixed, 0) == fixed);
	fixed[0] = 'a';
	T(shmat(id, NULL, 0) == (void *)-1);
	must(id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600));
	T(shmat(id, fixed, SHM_REMAP) == fixed);
	printf("remapped byte %d\n", fixed[0]);
	T(shmdt(fixed));
	T(shmctl(rid, IPC_RMID, NULL));
	T(shmctl(id, IPC_RMID, NULL));
	return 0;
}
