/* lib/runtime/plugin.c - load one driver plugin with dlopen and refuse it,
 * with a reason, unless it is a kbit driver of ABI major version 2 whose
 * table holds at least the 2.0 slots. */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "runtime/error.h"
#include "runtime/registry.h"

int kbit_driver_accept(const kbit_driver *d, kbit_registry_entry *e)
{
    if (d == NULL) {
        snprintf(e->reason, sizeof e->reason, "the entry function returned no driver table");
        return 0;
    }
    if (d->abi_major != KBIT_DRIVER_ABI_MAJOR) {
        snprintf(e->reason, sizeof e->reason,
                 "driver ABI version %u.%u, but kbit speaks major version %u (%u.%u)",
                 (unsigned)d->abi_major, (unsigned)d->abi_minor,
                 (unsigned)KBIT_DRIVER_ABI_MAJOR, (unsigned)KBIT_DRIVER_ABI_MAJOR,
                 (unsigned)KBIT_DRIVER_ABI_MINOR);
        return 0;
    }
    if (d->struct_size < KBIT_DRIVER_SIZE_2_0) {
        snprintf(e->reason, sizeof e->reason,
                 "driver table of %u bytes is smaller than the %zu of ABI 2.0",
                 (unsigned)d->struct_size, (size_t)KBIT_DRIVER_SIZE_2_0);
        return 0;
    }
    /* The prefix the driver has; the rest (newer minor versions) stays NULL. */
    memset(&e->table, 0, sizeof e->table);
    memcpy(&e->table, d, d->struct_size < sizeof e->table ? d->struct_size : sizeof e->table);
    const kbit_driver *t = &e->table;
    if (t->name == NULL || t->name[0] == '\0' || strlen(t->name) >= 32 ||
        strspn(t->name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(t->name)) {
        snprintf(e->reason, sizeof e->reason, "driver name missing or not [a-z0-9_]{1,31}");
        return 0;
    }
    const struct { const void *slot; const char *what; } required[] = {
        { (const void *)t->device_count, "device_count" },
        { (const void *)t->device_open, "device_open" },
        { (const void *)t->device_close, "device_close" },
        { (const void *)t->device_info, "device_info" },
        { (const void *)t->mem_alloc, "mem_alloc" },
        { (const void *)t->mem_free, "mem_free" },
        { (const void *)t->mem_copy, "mem_copy" },
        { (const void *)t->sync, "sync" },
    };
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (required[i].slot == NULL) {
            snprintf(e->reason, sizeof e->reason, "driver '%s' lacks the required slot %s",
                     t->name, required[i].what);
            return 0;
        }
    }
    e->families = kbit_families_complete(t, t->families, e->families_reason,
                                         sizeof e->families_reason);
    kbit_limits_text(t->limits, e->limits, sizeof e->limits);
    snprintf(e->name, sizeof e->name, "%s", t->name);
    e->driver = t;
    return 1;
}

int kbit_plugin_load(const char *path, kbit_registry_entry *e)
{
    snprintf(e->path, sizeof e->path, "%s", path);
    const char *base = strrchr(path, '/');
    snprintf(e->name, sizeof e->name, "%s", base ? base + 1 : path);

    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        const char *why = dlerror();
        snprintf(e->reason, sizeof e->reason, "cannot load: %s", why ? why : "dlopen failed");
        return 0;
    }
    kbit_driver_entry_fn entry;
    void *sym = dlsym(lib, KBIT_DRIVER_ENTRY_SYMBOL);
    if (sym == NULL) {
        snprintf(e->reason, sizeof e->reason,
                 "not a kbit driver: no symbol " KBIT_DRIVER_ENTRY_SYMBOL);
        dlclose(lib);
        return 0;
    }
    memcpy(&entry, &sym, sizeof entry); /* object pointer -> function pointer */
    if (!kbit_driver_accept(entry(kbit_host_services()), e)) {
        dlclose(lib);
        return 0;
    }
    return 1; /* the library stays loaded for the life of the process */
}
