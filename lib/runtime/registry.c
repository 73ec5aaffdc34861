/* lib/runtime/registry.c - find the drivers once per process: the built-in CPU driver,
 * then plugins kbit-*.so in the directories (or files) of KBIT_DRIVER_PATH,
 * then in the install's plugin directory. The first driver of a name wins, so
 * KBIT_DRIVER_PATH overrides an installed plugin. */
#include "config.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/error.h"
#include "runtime/registry.h"

#ifndef KBIT_PLUGIN_DIR
#define KBIT_PLUGIN_DIR "/usr/local/lib/kbit"
#endif

#define MAX_DRIVERS 64

static kbit_registry_entry entries[MAX_DRIVERS];
static int entry_count;
static pthread_once_t scan_once = PTHREAD_ONCE_INIT;

static kbit_registry_entry *new_entry(void)
{
    if (entry_count == MAX_DRIVERS)
        return NULL;
    kbit_registry_entry *e = &entries[entry_count++];
    memset(e, 0, sizeof *e);
    return e;
}

static const kbit_registry_entry *accepted(const char *name)
{
    for (int i = 0; i < entry_count; i++)
        if (entries[i].driver && strcmp(entries[i].name, name) == 0)
            return &entries[i];
    return NULL;
}

/* Ask an accepted driver how many devices it has, and what each
 * implements. Done on first use of the entry, not at the scan: opening
 * "cpu" must not start another runtime (PoCL, for one, aborts the process
 * when it cannot start its threads under a thread limit). */
static void probe(kbit_registry_entry *e)
{
    const char *why = NULL;
    int n = e->driver->device_count(&why);
    if (n > 0) {
        e->device_count = n;
        for (int i = 0; i < n && i < KBIT_REGISTRY_DEVICES; i++) {
            const char *lacks = NULL;
            uint32_t f = e->families;
            if (e->driver->device_families != NULL)
                f &= e->driver->device_families(i, &lacks);
            e->device_families[i] = f;
            e->device_reason[i] = f == e->families ? "" : lacks ? lacks : "(no reason given)";
        }
        return;
    }
    e->device_count = 0;
    snprintf(e->reason, sizeof e->reason, "%s",
             why && *why ? why : "the driver found no device");
}

static void add_plugin(const char *path)
{
    kbit_registry_entry *e = new_entry();
    if (e == NULL)
        return;
    if (!kbit_plugin_load(path, e))
        return;
    const kbit_registry_entry *first = accepted(e->name);
    if (first != NULL && first != e) {
        char why[sizeof e->reason];
        snprintf(why, sizeof why, "driver '%.60s' was already loaded from %.400s",
                 e->name, first->path);
        memcpy(e->reason, why, sizeof why);
        e->driver = NULL;
        return;
    }
}

static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;

/* The entry, probed once (thread-safe). */
static kbit_registry_entry *probed(kbit_registry_entry *e)
{
    if (e == NULL || e->driver == NULL)
        return e;
    pthread_mutex_lock(&probe_lock);
    if (!e->probed) {
        probe(e);
        e->probed = 1;
    }
    pthread_mutex_unlock(&probe_lock);
    return e;
}

static int is_plugin_name(const char *name)
{
    size_t len = strlen(name);
    return len > 8 && strncmp(name, "kbit-", 5) == 0 && strcmp(name + len - 3, ".so") == 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Plugins of one directory, in name order so the scan is reproducible. */
static void scan_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    char *names[MAX_DRIVERS];
    int count = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && count < MAX_DRIVERS) {
        if (is_plugin_name(de->d_name))
            names[count++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)count, sizeof names[0], compare_names);
    for (int i = 0; i < count; i++) {
        if (names[i] == NULL)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        add_plugin(path);
        free(names[i]);
    }
}

static void scan_path_element(const char *item)
{
    struct stat st;
    if (item[0] == '\0' || stat(item, &st) != 0)
        return; /* a missing directory in the path is not an error */
    if (S_ISDIR(st.st_mode))
        scan_dir(item);
    else
        add_plugin(item);
}

static void scan(void)
{
    kbit_registry_entry *cpu = new_entry();
    snprintf(cpu->path, sizeof cpu->path, "(built in)");
    snprintf(cpu->name, sizeof cpu->name, "cpu");
    kbit_driver_accept(kbit_cpu_driver_entry(kbit_host_services()), cpu);

    const char *env = getenv("KBIT_DRIVER_PATH");
    if (env != NULL) {
        char *copy = strdup(env);
        char *save = NULL;
        for (char *item = copy ? strtok_r(copy, ":", &save) : NULL; item != NULL;
             item = strtok_r(NULL, ":", &save))
            scan_path_element(item);
        free(copy);
    }
    scan_dir(KBIT_PLUGIN_DIR);
}

int kbit_registry_size(void)
{
    pthread_once(&scan_once, scan);
    return entry_count;
}

const kbit_registry_entry *kbit_registry_at(int index)
{
    pthread_once(&scan_once, scan);
    return index >= 0 && index < entry_count ? probed(&entries[index]) : NULL;
}

const kbit_driver *kbit_registry_find(const char *name, const kbit_registry_entry **entry)
{
    pthread_once(&scan_once, scan);
    kbit_registry_entry *found = NULL;
    for (int i = 0; i < entry_count && found == NULL; i++)
        if (entries[i].driver && strcmp(entries[i].name, name) == 0)
            found = &entries[i];
    if (found == NULL) {
        for (int i = 0; i < entry_count && found == NULL; i++) {
            const char *file = strrchr(entries[i].path, '/');
            char want[80];
            snprintf(want, sizeof want, "kbit-%s.so", name);
            if (strcmp(entries[i].name, name) == 0 || (file && strcmp(file + 1, want) == 0))
                found = &entries[i];
        }
    }
    probed(found);
    if (entry)
        *entry = found;
    return found ? found->driver : NULL;
}

uint32_t kbit_registry_device_families(const kbit_registry_entry *e, int index,
                                       const char **reason)
{
    int i = index < KBIT_REGISTRY_DEVICES ? index : KBIT_REGISTRY_DEVICES - 1;
    if (reason)
        *reason = e->device_reason[i] ? e->device_reason[i] : "";
    return e->device_families[i];
}

KBIT_API kbit_status kbit_driver_count(int *count)
{
    kbit_clear_error();
    if (count == NULL)
        return kbit_error(KBIT_EINVAL, "kbit_driver_count: count is NULL");
    *count = kbit_registry_size();
    return KBIT_OK;
}

KBIT_API kbit_status kbit_driver_get(int index, kbit_driver_report *report)
{
    kbit_clear_error();
    if (report == NULL)
        return kbit_error(KBIT_EINVAL, "kbit_driver_get: report is NULL");
    const kbit_registry_entry *e = kbit_registry_at(index);
    if (e == NULL)
        return kbit_error(KBIT_EINVAL, "kbit_driver_get: index %d is out of range (%d drivers)",
                          index, kbit_registry_size());
    report->name = e->name;
    report->path = e->path;
    report->loaded = e->driver != NULL;
    report->device_count = e->device_count;
    report->reason = e->reason;
    report->description = e->driver && e->driver->description ? e->driver->description : "";
    report->families = e->driver ? e->families : 0;
    report->families_reason = e->families_reason;
    report->abi_major = e->driver ? e->table.abi_major : 0;
    report->abi_minor = e->driver ? e->table.abi_minor : 0;
    report->limits = e->limits;
    return KBIT_OK;
}
