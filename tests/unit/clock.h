/* SPDX-License-Identifier: MIT */
/* Waiting on the allocator's own clock.  It reads CLOCK_MONOTONIC_COARSE,
 * which moves in kernel ticks (4 ms at HZ=250), so a sleep of n ms can
 * show on it as a tick less: a test that needs a stamp to be n ms old
 * waits until the library's clock says so. */
#ifndef SHIMMER_TESTS_UNIT_CLOCK_H
#define SHIMMER_TESTS_UNIT_CLOCK_H

#include "shimmer-internal.h"

#include <stdint.h>
#include <unistd.h>

/* Sleep until shm_now_ms() has moved on by at least ms since the call. */
static inline void wait_clock(uint32_t ms)
{
	uint32_t start = shm_now_ms();

	while ((uint32_t)(shm_now_ms() - start) < ms)
		usleep(1000);
}

#endif
