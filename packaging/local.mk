# SPDX-License-Identifier: MIT
# pkg-config file, packaging files and the packaging checks.  Included from
# Makefile.am; configure.ac lists shimmer.pc in AC_CONFIG_FILES.

pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = shimmer.pc

EXTRA_DIST += \
	shimmer.pc.in \
	shimmer.spec \
	packaging/check-packaging.sh \
	packaging/rpmlint.toml

# Installs the library into a scratch directory and builds a program
# against it with pkg-config.
TESTS += packaging/t-install.sh
dist_check_SCRIPTS += packaging/t-install.sh

# Builds and checks the Debian and RPM packages from "make dist"; slow, and
# wants root to install its tools and the packages, so not part of check.
check-packaging:
	$(SHELL) $(srcdir)/packaging/check-packaging.sh
.PHONY: check-packaging
