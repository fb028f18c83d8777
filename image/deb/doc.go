// Package deb reads Debian archives natively: it verifies a suite's signed
// InRelease file, reads its Packages indexes after checking their sha256,
// resolves dependencies (Pre-Depends, Depends, alternatives, virtual
// packages, version constraints, excluded names) over one or more suites,
// downloads .deb files into a cache keyed by sha256 and reads their
// contents, without dpkg or apt.
package deb
