// Package image builds reproducible, minimal container images from
// declarative recipes: Debian packages resolved from the archive's signed
// indexes and pinned in a lockfile, users, directories, files and Go
// programs built ko-style.
//
// No maintainer script runs. The builder writes what they would have
// made: /etc/passwd and /etc/group from base-passwd plus the recipe's
// users, the CA bundle, update-alternatives links (libblas.so.3, awk),
// /etc/os-release, and one dpkg status file per package in
// /var/lib/dpkg/status.d/ for image scanners. Documentation, manual pages
// and translations are left out unless a recipe keeps them.
//
// The output is deterministic: tar entries sorted, owners and modes as the
// packages give them, package files keeping the package's own times (so
// that a package's layer is the same in every image), berth's own layers
// and the config dated SOURCE_DATE_EPOCH or else the lock's newest Release
// date, a fixed gzip level, and a canonical config. Building twice from
// one lock gives one digest.
//
// Images are written as a tarball that is both an OCI image layout and a
// "docker save" archive, loaded into an engine (Load) or pushed to a
// registry (Push). The library never prints: progress comes as Events.
package image
