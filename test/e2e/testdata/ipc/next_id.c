/* /proc/sys/kernel/{msg,sem,shm}_next_id (CONFIG_CHECKPOINT_RESTORE), run
 * in the sandbox only (writing them natively would change the host's IPC
 * namespace): the expected output is Linux's documented semantics
 * (ipc/ipc_sysctl.c, ipc/util.c ipc_idr_alloc). */
#include <linux/capability.h>
#include <sys/syscall.h>

static void show(const char *name) {
	char path[64], buf[32] = "";
	snprintf(path, sizeof path, "/proc/sys/kernel/%s", name);
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("open %s = -1 %s\n", name, strerrorname_np(errno));
		return;
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0) {
		printf("read %s = -1 %s\n", name, strerrorname_np(errno));
		return;
	}
	buf[n] = 0;
	printf("%s = %s", name, buf);
}

/* set writes v to /proc/sys/kernel/name and prints the open's and the
 * write's results. */
static void set(const char *name, const char *v) {
	char path[64];
	snprintf(path, sizeof path, "/proc/sys/kernel/%s", name);
	int fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0) {
		printf("set %s %s: open = -1 %s\n", name, v, strerrorname_np(errno));
		return;
	}
	ssize_t n = write(fd, v, strlen(v));
	if (n < 0)
		printf("set %s %s: write = -1 %s\n", name, v, strerrorname_np(errno));
	else
		printf("set %s %s: write = %zd\n", name, v, n);
	close(fd);
}

/* caps gets (eff NULL) or sets the effective capabilities, the
 * permitted ones kept. */
static int caps(unsigned long long *eff, int set) {
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	if (!set) {
		*eff = d[0].effective | (unsigned long long)d[1].effective << 32;
		return 0;
	}
	d[0].effective = (unsigned)*eff;
	d[1].effective = (unsigned)(*eff >> 32);
	return syscall(SYS_capset, &h, d);
}

static int effective(unsigned long long eff) { return caps(&eff, 1); }

int main(void) {
	show("msg_next_id");
	show("sem_next_id");
	show("shm_next_id");
	struct stat st;
	T(stat("/proc/sys/kernel/msg_next_id", &st));
	printf("mode %o\n", st.st_mode & 07777);

	/* 0 to INT_MAX: -1 (none) cannot be written. */
	set("msg_next_id", "-1");
	set("msg_next_id", "2147483648");
	set("msg_next_id", "junk");
	show("msg_next_id");

	/* The next msgget gets the id (index 7, sequence 3), and the file
	 * reads -1 again. */
	set("msg_next_id", "98311");
	show("msg_next_id");
	int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	printf("msgget = %d\n", q);
	show("msg_next_id");
	struct msqid_ds mds;
	T(msgctl(q, IPC_STAT, &mds));
	/* The index of an existing one: the lowest free index above it,
	 * with the asked sequence. */
	set("msg_next_id", "98311");
	int q2 = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	printf("msgget at a used index = %d\n", q2);
	T(msgctl(q, IPC_RMID, NULL));
	T(msgctl(q2, IPC_RMID, NULL));

	/* A semget that fails before it makes a set leaves it pending. */
	set("sem_next_id", "12345");
	T(semget(IPC_PRIVATE, 0, IPC_CREAT | 0600));
	show("sem_next_id");
	int s = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
	printf("semget = %d\n", s);
	show("sem_next_id");
	union semun arg = {.val = 3};
	T(semctl(s, 1, SETVAL, arg));
	T(semctl(s, 1, GETVAL));
	T(semctl(s, 0, IPC_RMID));

	/* The largest id; the segment is attached and used by it. */
	set("shm_next_id", "2147483647");
	int m = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	printf("shmget = %d\n", m);
	show("shm_next_id");
	char *p = shmat(m, NULL, 0);
	TOK((long)p);
	strcpy(p, "shared");
	char *p2 = shmat(m, NULL, SHM_RDONLY);
	printf("read back %s\n", p2);
	T(shmdt(p));
	T(shmdt(p2));
	T(shmctl(m, IPC_RMID, NULL));

	/* Writing needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE, at open
	 * (EACCES); reading does not. */
	pid_t pid = fork();
	if (pid == 0) {
		unsigned long long all;
		must(caps(&all, 0));
		T(effective(all & ~(1ULL << CAP_SYS_ADMIN) & ~(1ULL << CAP_CHECKPOINT_RESTORE)));
		set("msg_next_id", "5");
		show("msg_next_id");
		T(effective(1ULL << CAP_CHECKPOINT_RESTORE));
		set("msg_next_id", "5");
		show("msg_next_id");
		T(effective(1ULL << CAP_SYS_ADMIN));
		set("msg_next_id", "6");
		show("msg_next_id");
		T(effective(all));
		T(setuid(1000));
		set("msg_next_id", "7");
		show("msg_next_id");
		_exit(0);
	}
	waitchild("child", pid);
	int q3 = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	printf("msgget = %d\n", q3);
	T(msgctl(q3, IPC_RMID, NULL));
	return 0;
}
