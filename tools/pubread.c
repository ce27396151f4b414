/* SPDX-License-Identifier: MIT */
/*
 * pubread.c - find, map and check the statistics a process publishes.
 *
 * The library keeps its counters in a memory file named "shimmer-stats";
 * another process of the same user reaches it as /proc/PID/fd/N, whose
 * link reads "/memfd:shimmer-stats (deleted)".  Opening that link opens
 * the memory file itself, and the kernel's /proc permission check (the
 * same as for ptrace) keeps other users out.  Our mapping stays valid
 * after the process exits, so a process that dies while we read it costs
 * nothing worse than stale numbers.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pubread.h"
#include "tool.h"

#define PUB_LINK "/memfd:" SHM_PUB_MEMFD_NAME

static inline uint64_t rd64(const uint64_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

static inline uint32_t rd32(const uint32_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

/* ---- Following the process through /proc -------------------------------- */

/* Read a small file under /proc/PID into buf (NUL-terminated). */
static bool pub_read_proc(int procfd, const char *name, char *buf, size_t len)
{
	int fd = openat(procfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

bool pub_alive(const pub_t *p)
{
	char buf[512], *paren;

	/* The descriptor keeps naming the process we opened, even if its
	 * number is reused: its files then fail with ESRCH. */
	if (!pub_read_proc(p->procfd, "stat", buf, sizeof(buf)))
		return false;
	paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

bool pub_rss(const pub_t *p, uint64_t *bytes)
{
	char buf[256];
	unsigned long long size, resident;
	long page = sysconf(_SC_PAGESIZE);

	if (!pub_read_proc(p->procfd, "statm", buf, sizeof(buf)) ||
	    sscanf(buf, "%llu %llu", &size, &resident) != 2 || page <= 0)
		return false;
	*bytes = (uint64_t)resident * (uint64_t)page;
	return true;
}

void pub_comm(const pub_t *p, char *buf, size_t len)
{
	if (!pub_read_proc(p->procfd, "comm", buf, len)) {
		buf[0] = '\0';
		return;
	}
	buf[strcspn(buf, "\n")] = '\0';
}

/* ---- Checking the mapping ------------------------------------------------- */

/* [off, off + count * size) lies within [header, total) and is aligned. */
static bool pub_range_ok(uint64_t off, uint64_t count, uint64_t size,
			 uint64_t header, uint64_t total)
{
	if (off % 8 || off < header || off > total)
		return false;
	return count == 0 || (total - off) / count >= size;
}

/* Why the mapping cannot be read, or NULL if it can. */
static const char *pub_check(const pub_t *p, const shm_pub_t *h)
{
	static char why[128];
	uint64_t total;

	if (p->size < sizeof(shm_pub_t))
		return "the mapping is too short";
	if (memcmp(h->magic, SHM_PUB_MAGIC, sizeof(h->magic)) != 0)
		return "the mapping does not start with Shimmer's mark";
	if (h->version != SHM_PUB_VERSION) {
		snprintf(why, sizeof(why),
			 "it is in format version %u; this shimmer reads version %u",
			 (unsigned)h->version, (unsigned)SHM_PUB_VERSION);
		return why;
	}
	total = h->total_size;
	if (h->header_size < sizeof(shm_pub_t) || total < h->header_size ||
	    total > p->size)
		return "the mapping's sizes do not add up";
	if (h->nclasses != SHM_PUB_CLASSES)
		return "it has a different number of size classes";
	if (h->narenas == 0 || h->page_size < 512 ||
	    (h->page_size & (h->page_size - 1)) ||
	    h->chunk_size != (uint64_t)h->page_size * SHM_PUB_CHUNK_PAGES)
		return "its geometry (arenas, page or chunk size) is not valid";
	if (!pub_range_ok(h->arenas_offset, h->narenas, sizeof(shm_pub_arena_t),
			  h->header_size, total) ||
	    !pub_range_ok(h->chunks_offset, h->max_chunks, sizeof(shm_pub_chunk_t),
			  h->header_size, total) ||
	    !pub_range_ok(h->huge_offset, h->max_huge, sizeof(shm_pub_huge_t),
			  h->header_size, total))
		return "its tables lie outside the mapping";
	return NULL;
}

/* A process that shrinks its memory file under us would make our next read
 * fault: end with a message instead of a crash. */
static void pub_sigbus(int sig)
{
	static const char msg[] =
		"shimmer: the statistics mapping shrank while being read\n";
	ssize_t n = write(2, msg, sizeof(msg) - 1);

	(void)n;
	(void)sig;
	_exit(TOOL_EXIT_FAIL);
}

/* Map an open memory file and check it; 0, or -1 with *why set. */
static int pub_map_fd(pub_t *p, int fd, const char **why)
{
	struct stat st;
	const shm_pub_t *h;
	void *base;
	int prot = PROT_READ | (p->writable ? PROT_WRITE : 0);

	if (fstat(fd, &st) != 0) {
		*why = strerror(errno);
		return -1;
	}
	if (st.st_size < (off_t)sizeof(shm_pub_t)) {
		*why = "the mapping is too short";
		return -1;
	}
	base = mmap(NULL, (size_t)st.st_size, prot, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		*why = strerror(errno);
		return -1;
	}
	p->base = base;
	p->size = (size_t)st.st_size;
	h = base;
	*why = pub_check(p, h);
	if (*why) {
		munmap(base, p->size);
		p->base = NULL;
		return -1;
	}
	p->hdr = base;
	p->narenas = h->narenas;
	p->max_chunks = h->max_chunks;
	p->max_huge = h->max_huge;
	p->page_size = h->page_size;
	p->chunk_size = h->chunk_size;
	p->arenas = (const void *)((const char *)base + h->arenas_offset);
	p->chunks = (const void *)((const char *)base + h->chunks_offset);
	p->huge = (const void *)((const char *)base + h->huge_offset);
	memcpy(p->class_size, h->class_size, sizeof(p->class_size));
	memcpy(p->class_nobjs, h->class_nobjs, sizeof(p->class_nobjs));
	memcpy(p->version, h->version_string, sizeof(p->version));
	p->version[sizeof(p->version) - 1] = '\0';
	return 0;
}

/* ---- Finding it ------------------------------------------------------------ */

/* When reading failed: say so and return 1 if it is because the process
 * is gone, else return 0 and leave the explaining to the caller. */
static int pub_fail_process(const pub_t *p)
{
	if (pub_alive(p))
		return 0;
	tool_error("process %d has exited", p->pid);
	return TOOL_EXIT_FAIL;
}

int pub_open(pub_t *p, int pid, bool writable)
{
	char path[64], target[256], comm[64];
	const char *why = NULL;
	int fddir, rc, fallback = -1;
	struct sigaction sa;
	DIR *d;
	struct dirent *e;
	bool found_link = false, denied = false;

	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->writable = writable;
	snprintf(path, sizeof(path), "/proc/%d", pid);
	p->procfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->procfd < 0) {
		if (errno == ENOENT || errno == ESRCH)
			tool_error("no process with ID %d", pid);
		else
			tool_error("%s: %s", path, strerror(errno));
		return TOOL_EXIT_FAIL;
	}
	fddir = openat(p->procfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fddir < 0 || !(d = fdopendir(fddir))) {
		int err = errno;

		if (fddir >= 0)
			close(fddir);
		if ((rc = pub_fail_process(p)))
			goto fail;
		if (err == EACCES || err == EPERM)
			tool_error("cannot read the file descriptors of process %d: "
				   "permission denied (it belongs to another user)", pid);
		else
			tool_error("cannot read the file descriptors of process %d: %s",
				   pid, strerror(err));
		rc = TOOL_EXIT_FAIL;
		goto fail;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pub_sigbus;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);

	/*
	 * Every link to a statistics file is a candidate.  A child forked
	 * without exec may still hold its parent's, so the one that names
	 * this process wins; failing that (a process in another PID
	 * namespace knows itself by another number) the first good one.
	 */
	while ((e = readdir(d))) {
		ssize_t n;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		n = readlinkat(fddir, e->d_name, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, PUB_LINK, strlen(PUB_LINK)) != 0 ||
		    (target[strlen(PUB_LINK)] != '\0' && target[strlen(PUB_LINK)] != ' '))
			continue;
		found_link = true;
		fd = openat(fddir, e->d_name,
			    (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
		if (fd < 0) {
			if (errno == EACCES || errno == EPERM || errno == EROFS)
				denied = true;
			why = strerror(errno);
			continue;
		}
		if (pub_map_fd(p, fd, &why) == 0) {
			if (rd32(&p->hdr->pid) == (uint32_t)pid) {
				close(fd);
				if (fallback >= 0)
					close(fallback);
				fallback = -1;
				break;
			}
			munmap(p->base, p->size);
			p->base = NULL;
			p->hdr = NULL;
			if (fallback < 0)
				fallback = fd;
			else
				close(fd);
			continue;
		}
		close(fd);
	}
	closedir(d);
	if (!p->hdr && fallback >= 0 && pub_map_fd(p, fallback, &why) != 0)
		p->hdr = NULL;
	if (fallback >= 0)
		close(fallback);
	if (p->hdr)
		return 0;

	if ((rc = pub_fail_process(p)))
		goto fail;
	pub_comm(p, comm, sizeof(comm));
	if (!found_link)
		tool_error("process %d%s%s%s publishes no Shimmer statistics: it "
			   "does not use Shimmer, uses one too old to publish them, "
			   "or runs with publish:false", pid,
			   *comm ? " (" : "", comm, *comm ? ")" : "");
	else if (denied && writable)
		tool_error("cannot open the statistics of process %d for writing "
			   "(needed to ask for a heap picture): %s", pid, why);
	else
		tool_error("cannot read the statistics of process %d: %s", pid,
			   why ? why : "unknown error");
	rc = TOOL_EXIT_FAIL;
fail:
	close(p->procfd);
	p->procfd = -1;
	return rc;
}

void pub_close(pub_t *p)
{
	if (p->base)
		munmap(p->base, p->size);
	if (p->procfd >= 0)
		close(p->procfd);
	p->base = NULL;
	p->hdr = NULL;
	p->procfd = -1;
}

/* ---- Adding it up ---------------------------------------------------------- */

void pub_classes(const pub_t *p, pub_class_t out[SHM_PUB_CLASSES])
{
	for (unsigned c = 0; c < SHM_PUB_CLASSES; c++) {
		pub_class_t *k = &out[c];

		memset(k, 0, sizeof(*k));
		k->index = c;
		k->size = p->class_size[c];
		k->nobjs = p->class_nobjs[c];
		for (uint32_t a = 0; a < p->narenas; a++) {
			const shm_pub_class_t *s = &p->arenas[a].classes[c];

			k->nmalloc += rd64(&s->nmalloc);
			k->nfree += rd64(&s->nfree);
			k->nslabs += rd64(&s->nslabs);
			k->slab_objs += rd64(&s->slab_objs);
			k->nfills += rd64(&s->nfills);
			k->nflushes += rd64(&s->nflushes);
		}
		/* A block may be freed through another arena than the one
		 * that counted its allocation, so only the sum is meaningful,
		 * and even that can run a cache's worth behind. */
		k->live = k->nmalloc > k->nfree ? k->nmalloc - k->nfree : 0;
		k->util = k->nslabs && k->nobjs ?
			(double)k->slab_objs / ((double)k->nslabs * (double)k->nobjs) : 0;
	}
}

void pub_totals(const pub_t *p, pub_totals_t *t)
{
	pub_class_t cls[SHM_PUB_CLASSES];
	const shm_pub_t *h = p->hdr;
	uint64_t pages = 0, dirty = 0, large = 0, huge_cached;

	memset(t, 0, sizeof(*t));
	pub_classes(p, cls);
	for (unsigned c = 0; c < SHM_PUB_CLASSES; c++) {
		t->allocated += cls[c].live * cls[c].size;
		t->nmalloc += cls[c].nmalloc;
		t->nfree += cls[c].nfree;
	}
	for (uint32_t a = 0; a < p->narenas; a++) {
		const shm_pub_arena_t *ar = &p->arenas[a];

		t->nchunks += rd64(&ar->nchunks);
		pages += rd64(&ar->active_pages);
		dirty += rd64(&ar->dirty_pages);
		large += rd64(&ar->large_bytes);
		t->nmalloc += rd64(&ar->nmalloc_large);
		t->nfree += rd64(&ar->nfree_large);
	}
	t->huge = rd64(&h->huge_bytes);
	t->huge_count = rd64(&h->huge_count);
	huge_cached = rd64(&h->huge_cached);
	t->nmalloc += rd64(&h->huge_nmalloc);
	t->nfree += rd64(&h->huge_nfree);
	t->allocated += large + t->huge;
	t->active = pages * p->page_size + t->huge;
	/* Counts that thread caches have yet to merge can put the sum ahead
	 * of the pages that hold it for a moment; the library's own report
	 * keeps allocated <= active the same way. */
	if (t->allocated > t->active)
		t->allocated = t->active;
	t->dirty = dirty * p->page_size + huge_cached;
	t->mapped = t->nchunks * p->chunk_size + t->huge + huge_cached +
		    rd64(&h->base_mapped);
}

/* ---- Asking for a heap picture -------------------------------------------- */

int pub_snapshot(pub_t *p, unsigned timeout_ms)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	uint64_t want;

	if (!p->writable) {
		tool_error("the statistics of process %d are mapped read-only", p->pid);
		return TOOL_EXIT_FAIL;
	}
	/* The library answers the request it sees with snapshot_done set to
	 * that request's number, after writing the picture (release): once
	 * done reaches ours, the picture is at least as new as our request. */
	want = __atomic_add_fetch(&p->hdr->snapshot_request, 1, __ATOMIC_ACQ_REL);
	for (unsigned waited = 0; ; waited += 10) {
		if (__atomic_load_n(&p->hdr->snapshot_done, __ATOMIC_ACQUIRE) >= want)
			return 0;
		if (waited >= timeout_ms)
			break;
		if (waited % 200 == 0 && !pub_alive(p)) {
			tool_error("process %d exited before it drew its heap", p->pid);
			return TOOL_EXIT_FAIL;
		}
		nanosleep(&tick, NULL);
	}
	tool_error("process %d did not answer within %u s: it draws its heap on "
		   "its next call into the allocator's slow path, and an idle "
		   "process makes none", p->pid, timeout_ms / 1000);
	return TOOL_EXIT_FAIL;
}
