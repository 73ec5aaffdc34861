/* tools/conformance/vectors.h - where the golden vectors are. Shared by
 * `kbit conformance` and the test programs. */
#ifndef KBIT_CONFORMANCE_VECTORS_H
#define KBIT_CONFORMANCE_VECTORS_H

/* The directory of the golden vectors, in this order: the one given to
 * vectors_dir_override (kbit conformance --vectors), KBIT_VECTORS_DIR, then
 * the install's: STAGE$(pkgdatadir)/vectors when the program runs from a
 * staged copy of the install (make install DESTDIR=STAGE: its directory is
 * STAGE$(bindir)) and that exists, else $(pkgdatadir)/vectors (compiled in). */
const char *vectors_dir(void);
/* Use dir (not copied; NULL: no override) before anything else. */
void vectors_dir_override(const char *dir);

#endif
