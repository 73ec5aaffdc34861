/* tools/conformance/vectors.c - see vectors.h. */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vectors.h"

/* The install's paths come from tools/conformance/local.mk. */
#if !defined(KBIT_VECTORS_INSTALL_DIR) || !defined(KBIT_INSTALL_BINDIR)
#error "KBIT_VECTORS_INSTALL_DIR and KBIT_INSTALL_BINDIR must be defined (local.mk)"
#endif

static const char *override;

void vectors_dir_override(const char *dir)
{
    override = dir;
}

static int is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* STAGE$(pkgdatadir)/vectors when this program is STAGE$(bindir)/kbit;
 * NULL otherwise. */
static const char *staged_dir(void)
{
    static char found[PATH_MAX + sizeof KBIT_VECTORS_INSTALL_DIR];
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return NULL;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return NULL;
    *slash = '\0'; /* the program's directory */
    size_t dlen = strlen(exe), blen = strlen(KBIT_INSTALL_BINDIR);
    if (dlen <= blen || strcmp(exe + dlen - blen, KBIT_INSTALL_BINDIR) != 0)
        return NULL;
    exe[dlen - blen] = '\0'; /* STAGE */
    snprintf(found, sizeof found, "%s%s", exe, KBIT_VECTORS_INSTALL_DIR);
    return is_dir(found) ? found : NULL;
}

const char *vectors_dir(void)
{
    if (override && *override)
        return override;
    const char *env = getenv("KBIT_VECTORS_DIR");
    if (env && *env)
        return env;
    /* a staged copy first: an older install may exist at the real path */
    const char *staged = staged_dir();
    return staged ? staged : KBIT_VECTORS_INSTALL_DIR;
}
