# SPDX-License-Identifier: MIT
# The shimmer command: a script with the install paths filled in.
bin_SCRIPTS += tools/shimmer
EXTRA_DIST += tools/shimmer.in
CLEANFILES += tools/shimmer

tools/shimmer: $(srcdir)/tools/shimmer.in Makefile
	$(AM_V_GEN)$(MKDIR_P) tools && \
	sed -e 's|@PACKAGE_VERSION[@]|$(PACKAGE_VERSION)|g' \
	    -e 's|@libdir[@]|$(libdir)|g' $(srcdir)/tools/shimmer.in > $@.tmp && \
	chmod +x $@.tmp && mv $@.tmp $@
