/* SPDX-License-Identifier: MIT */
/*
 * os.c - every system call the allocator makes, and nothing else.
 *
 * Nothing here may allocate: these functions run inside malloc, during
 * start-up and in fork handlers.  Raw syscalls are used where a libc wrapper
 * could allocate or is missing.
 */
#include "shimmer-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef MAP_NORESERVE
# define MAP_NORESERVE 0
#endif

/* Keep transparent huge pages out of [addr, addr+size), whatever the
 * system's setting. */
void shm_os_no_huge(void *addr, size_t size)
{
	madvise(addr, size, MADV_NOHUGEPAGE);
}

/* Apply the transparent-huge-page policy to memory we hand out. */
static void os_thp(void *p, size_t size)
{
	if (shm_opt.thp == SHM_THP_ALWAYS)
		madvise(p, size, MADV_HUGEPAGE);
	else if (shm_opt.thp == SHM_THP_NEVER)
		shm_os_no_huge(p, size);
}

void *shm_os_map(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Address space only: pages are committed by the kernel as they are
 * touched, and not counted against overcommit limits. */
void *shm_os_reserve(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void shm_os_unmap(void *addr, size_t size)
{
	if (size)
		munmap(addr, size);
}

/* Map size bytes aligned to align (a power of two >= a page).  Try the
 * plain mapping first: the kernel often places it aligned already, which
 * saves the over-map and trim. */
void *shm_os_map_aligned(size_t size, size_t align)
{
	char *p = shm_os_map(size);

	if (p == NULL)
		return NULL;
	if (((uintptr_t)p & (align - 1)) == 0) {
		os_thp(p, size);
		return p;
	}
	shm_os_unmap(p, size);

	if (size + align < size)
		return NULL;
	p = shm_os_map(size + align);
	if (p == NULL)
		return NULL;
	uintptr_t start = shm_align_up((uintptr_t)p, align);
	size_t head = start - (uintptr_t)p;
	shm_os_unmap(p, head);
	shm_os_unmap((char *)start + size, align - head);
	os_thp((void *)start, size);
	return (void *)start;
}

/* Give the pages back; the mapping stays and reads as zeroes afterwards. */
void shm_os_purge(void *addr, size_t size)
{
	if (size)
		madvise(addr, size, MADV_DONTNEED);
}

/* Guard pages: make a page inaccessible, or usable again before reuse.  A
 * failure (too many mappings) only loses the guard. */
void shm_os_protect(void *addr, size_t size, bool accessible)
{
	mprotect(addr, size, accessible ? PROT_READ | PROT_WRITE : PROT_NONE);
}

/* ---- brk/sbrk as a chunk source ----------------------------------------- */

static pthread_mutex_t shm_dss_lock = SHM_LOCK_INITIALIZER;
static uintptr_t dss_base, dss_end;	/* what we took from brk */

/* Extend the data segment by an aligned block.  Another user of brk may
 * have moved it since our last call; the region between is then skipped. */
void *shm_os_dss_alloc(size_t size, size_t align)
{
	void *result = NULL;

	pthread_mutex_lock(&shm_dss_lock);
	uintptr_t cur = (uintptr_t)sbrk(0);
	if (cur != (uintptr_t)-1) {
		uintptr_t start = shm_align_up(cur, align);
		size_t grow = start - cur + size;
		if (grow >= size && sbrk((intptr_t)grow) == (void *)cur) {
			if (dss_base == 0)
				dss_base = start;
			dss_end = start + size;
			result = (void *)start;
		}
	}
	pthread_mutex_unlock(&shm_dss_lock);
	if (result)
		os_thp(result, size);
	return result;
}

bool shm_os_dss_owns(const void *addr)
{
	uintptr_t a = (uintptr_t)addr;

	return a >= dss_base && a < dss_end;
}

void shm_os_dss_prefork(void)
{
	pthread_mutex_lock(&shm_dss_lock);
}

void shm_os_dss_postfork(bool child)
{
	if (child)
		shm_lock_init(&shm_dss_lock);
	else
		pthread_mutex_unlock(&shm_dss_lock);
}

/* ---- Everything else ------------------------------------------------------ */

void shm_os_write(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* The process secret comes from the kernel; if getrandom is unavailable the
 * fallback mixes addresses and time, which still differs per process. */
void shm_os_random(void *buf, size_t len)
{
	long n = syscall(SYS_getrandom, buf, len, 0x0001 /* GRND_NONBLOCK */);

	if (n == (long)len)
		return;
	uint64_t x = (uintptr_t)buf ^ ((uint64_t)getpid() << 32) ^
		     shm_os_monotonic_ms() ^ (uintptr_t)&shm_os_random;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		((unsigned char *)buf)[i] = (unsigned char)(x >> 24);
	}
}

/* CPUs this process may run on; sched_getaffinity does not allocate. */
unsigned shm_os_ncpus(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 1;
	n = CPU_COUNT(&set);
	return n > 0 ? (unsigned)n : 1;
}

uint64_t shm_os_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* getenv does not allocate, and it is safe before main. */
const char *shm_os_getenv(const char *name)
{
	return getenv(name);
}

/* Locks are mutexes that spin a little before they sleep: an arena's lock
 * is held for a refill or a flush, for less time than a waiter spends
 * going to sleep and being woken.  With plain mutexes, bench/xthread (one
 * thread frees what another allocates, and flushes them into the arena
 * whose lock the other takes to refill) ran 1.4 times slower.  A child
 * after fork re-creates its locks instead of unlocking them, since the
 * thread that locked them is not in the child. */
void shm_lock_init(pthread_mutex_t *lock)
{
	pthread_mutexattr_t attr;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(lock, &attr);
	pthread_mutexattr_destroy(&attr);
}

/* Move or grow a mapping to newlen bytes at an address aligned to align,
 * without copying: the pages are moved by the kernel.  Growing in place is
 * tried first where old is aligned already. */
void *shm_os_remap(void *old, size_t oldlen, size_t newlen, size_t align)
{
	void *p;

	if (((uintptr_t)old & (align - 1)) == 0 &&
	    (p = mremap(old, oldlen, newlen, 0)) != MAP_FAILED)
		return p;
	if (newlen + align < newlen)
		return NULL;
	char *hole = mmap(NULL, newlen + align, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (hole == MAP_FAILED)
		return NULL;
	uintptr_t target = shm_align_up((uintptr_t)hole, align);
	p = mremap(old, oldlen, newlen, MREMAP_MAYMOVE | MREMAP_FIXED,
		   (void *)target);
	if (p == MAP_FAILED) {
		munmap(hole, newlen + align);
		return NULL;
	}
	shm_os_unmap(hole, target - (uintptr_t)hole);
	shm_os_unmap((char *)target + newlen,
		     (uintptr_t)hole + newlen + align - (target + newlen));
	return p;
}

/* Mappings this process may have (vm.max_map_count), and a quarter of it:
 * the most that moving pages may bring the process to. */
static size_t map_count_limit(void)
{
	char buf[32];
	size_t max = 0;
	int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
			max = max * 10 + (size_t)(buf[i] - '0');
	}
	return (max ? max : 65530) / 4;
}

/* The process's mappings now: the lines of /proc/self/maps. */
static size_t map_count(void)
{
	char buf[4096];
	size_t lines = 0;
	ssize_t n;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return SIZE_MAX;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	close(fd);
	return lines;
}

/* Moves since the mappings were last counted, and whether moving is off. */
static unsigned moves_unchecked;
static bool moves_off;

/* mremap moves within one kernel mapping only: a range that spans several
 * is moved half by half, down to single pages if need be.  Returns the
 * bytes moved from the start of the range. */
static size_t move_prefix(char *src, char *dst, size_t len)
{
	if (mremap(src, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst) == dst)
		return len;
	if (errno != EFAULT || len == SHM_PAGE_SIZE)
		return 0;
	size_t half = (len >> (SHM_PAGE_SHIFT + 1)) << SHM_PAGE_SHIFT;
	size_t done = move_prefix(src, dst, half);
	if (done < half)
		return done;
	return half + move_prefix(src + half, dst + half, len - half);
}

/*
 * Move the pages of [src, src+len) to dst, replacing the pages there, and
 * unmap the source: the kernel moves page table entries, where filling dst
 * would fault its pages in one by one and zero them (on a 2-core virtual
 * machine, 10 us a page; a moved page took 0.2 us to move and 6 us when
 * first touched, a hypervisor's cost that pages moved 2 MiB at a time,
 * aligned, do not pay).  Returns
 * the bytes moved from the start: less than len if the kernel ran out of
 * memory midway, the rest staying at src.  Every move may split the
 * kernel mapping at dst in three, and a process has a bounded number of
 * them (munmap in the middle of a mapping fails once it is reached), so
 * every 256 moves they are counted, and moving stops for good at a quarter
 * of the bound.
 */
size_t shm_os_move(void *src, void *dst, size_t len)
{
	static size_t limit;

	if (__atomic_load_n(&moves_off, __ATOMIC_RELAXED))
		return 0;
	if (__atomic_add_fetch(&moves_unchecked, 1, __ATOMIC_RELAXED) % 256 == 0) {
		if (limit == 0)
			limit = map_count_limit();
		if (map_count() > limit) {
			__atomic_store_n(&moves_off, true, __ATOMIC_RELAXED);
			return 0;
		}
	}
	return move_prefix(src, dst, len);
}

/* Resident bytes now (from /proc/self/statm) and at the peak (from
 * getrusage); 0 where unknown.  Used by the report at exit. */
void shm_os_rss(size_t *now, size_t *peak)
{
	struct rusage ru;
	char buf[128];
	int fd;

	*now = *peak = 0;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		*peak = (size_t)ru.ru_maxrss << 10;
	fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	const char *s = strchr(buf, ' ');
	size_t pages = 0;
	for (s = s ? s + 1 : buf; *s >= '0' && *s <= '9'; s++)
		pages = pages * 10 + (size_t)(*s - '0');
	*now = pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* ---- Shared memory for published statistics ------------------------------- */

/* A memory file of size bytes; -1 if the kernel has none to give. */
int shm_os_memfd(const char *name, size_t size)
{
	int fd = (int)syscall(SYS_memfd_create, name, 1u /* MFD_CLOEXEC */);

	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Map fd shared; at addr exactly when addr is not NULL (replacing what is
 * there), anywhere otherwise. */
void *shm_os_map_shared(int fd, size_t size, void *addr)
{
	void *p = mmap(addr, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | (addr ? MAP_FIXED : 0), fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

bool shm_os_fill_fd(int fd, const void *buf, size_t len)
{
	const char *b = buf;
	off_t off = 0;

	while (len > 0) {
		ssize_t n = pwrite(fd, b, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		b += n;
		off += n;
		len -= (size_t)n;
	}
	return true;
}

void shm_os_close(int fd)
{
	close(fd);
}
