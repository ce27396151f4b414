# SPDX-License-Identifier: MIT
# Manual pages.  shimmer(3) documents the library and every shimmer_*
# function; shimmer(1) documents the command.  Included from Makefile.am.

dist_man3_MANS = man/shimmer.3
dist_man1_MANS = man/shimmer.1

# Each public function gets a symbolic link to shimmer.3 when installed, so
# that "man shimmer_malloc" shows the page.  Links, not ".so" pages: mandoc
# rightly calls .so fragile, and distributions turn .so pages into links
# anyway.  man/check-man.sh checks this list against include/shimmer.h.
SHIMMER_MAN3_LINKS = \
	shimmer_malloc.3 \
	shimmer_free.3 \
	shimmer_calloc.3 \
	shimmer_realloc.3 \
	shimmer_reallocarray.3 \
	shimmer_posix_memalign.3 \
	shimmer_aligned_alloc.3 \
	shimmer_memalign.3 \
	shimmer_valloc.3 \
	shimmer_pvalloc.3 \
	shimmer_usable_size.3 \
	shimmer_free_sized.3 \
	shimmer_free_aligned_sized.3 \
	shimmer_trim.3 \
	shimmer_stats_print.3 \
	shimmer_stats_get.3 \
	shimmer_ctl.3 \
	shimmer_version.3

# Prerequisites only, so that another part of the tree may still give
# install-data-local and uninstall-local a recipe of its own.
install-data-local: install-man3-links
uninstall-local: uninstall-man3-links

install-man3-links:
	$(MKDIR_P) '$(DESTDIR)$(man3dir)'
	@cd '$(DESTDIR)$(man3dir)' && for l in $(SHIMMER_MAN3_LINKS); do \
	  echo " ln -s shimmer.3 '$(DESTDIR)$(man3dir)/'$$l"; \
	  rm -f "$$l" && $(LN_S) shimmer.3 "$$l" || exit 1; \
	done

uninstall-man3-links:
	@if test -d '$(DESTDIR)$(man3dir)'; then \
	  cd '$(DESTDIR)$(man3dir)' && rm -f $(SHIMMER_MAN3_LINKS); \
	fi

.PHONY: install-man3-links uninstall-man3-links

TESTS += man/check-man.sh
dist_check_SCRIPTS += man/check-man.sh
