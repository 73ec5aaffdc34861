/* lib/runtime/plugin.c - load one driver plugin with dlopen and refuse it, with a
 * reason, unless it is a kbit driver of the ABI version this library speaks. */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "runtime/error.h"
#include "runtime/registry.h"

int kbit_driver_table_ok(const kbit_driver *d, char *reason, size_t reason_len)
{
    if (d == NULL) {
        snprintf(reason, reason_len, "the entry function returned no driver table");
        return 0;
    }
    if (d->abi_version != KBIT_DRIVER_ABI_VERSION) {
        snprintf(reason, reason_len, "driver ABI version %u, but kbit speaks version %u",
                 (unsigned)d->abi_version, (unsigned)KBIT_DRIVER_ABI_VERSION);
        return 0;
    }
    if (d->struct_size < sizeof(kbit_driver)) {
        snprintf(reason, reason_len, "driver table of %u bytes is smaller than the %zu of ABI %u",
                 (unsigned)d->struct_size, sizeof(kbit_driver), (unsigned)KBIT_DRIVER_ABI_VERSION);
        return 0;
    }
    if (d->name == NULL || d->name[0] == '\0' || strlen(d->name) >= 32 ||
        strspn(d->name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(d->name)) {
        snprintf(reason, reason_len, "driver name missing or not [a-z0-9_]{1,31}");
        return 0;
    }
    const struct { const void *slot; const char *what; } required[] = {
        { (const void *)d->device_count, "device_count" },
        { (const void *)d->device_open, "device_open" },
        { (const void *)d->device_close, "device_close" },
        { (const void *)d->device_info, "device_info" },
        { (const void *)d->mem_alloc, "mem_alloc" },
        { (const void *)d->mem_free, "mem_free" },
        { (const void *)d->mem_copy, "mem_copy" },
        { (const void *)d->sync, "sync" },
    };
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (required[i].slot == NULL) {
            snprintf(reason, reason_len, "driver '%s' lacks the required slot %s",
                     d->name, required[i].what);
            return 0;
        }
    }
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
    const kbit_driver *d = entry(kbit_host_services());
    if (!kbit_driver_table_ok(d, e->reason, sizeof e->reason)) {
        dlclose(lib);
        return 0;
    }
    snprintf(e->name, sizeof e->name, "%s", d->name);
    e->driver = d;
    return 1; /* the library stays loaded for the life of the process */
}
