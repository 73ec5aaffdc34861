/* lib/runtime/registry.h - the drivers kbit found: the built-in CPU driver and the
 * plugins, each with the reason it was refused or found no device. */
#ifndef KBIT_LIB_REGISTRY_H
#define KBIT_LIB_REGISTRY_H

#include "kbit-driver.h"

typedef struct kbit_registry_entry {
    const kbit_driver *driver; /* NULL when the plugin was refused */
    char name[64];             /* driver name, or the file name if refused */
    char path[1024];           /* plugin file or "(built in)" */
    char reason[512];          /* why refused / no device; "" if fine */
    int device_count;          /* >= 0; 0 when refused or no device */
} kbit_registry_entry;

/* Scan once (thread-safe) and return the entries. */
int kbit_registry_size(void);
const kbit_registry_entry *kbit_registry_at(int index);

/* The accepted driver called name, or NULL (then *entry, if given, is the
 * refused entry of that name, or NULL when nothing of that name was seen). */
const kbit_driver *kbit_registry_find(const char *name, const kbit_registry_entry **entry);

/* Load and validate one plugin file into *e (lib/runtime/plugin.c). Returns 1 if
 * accepted. Keeps the library loaded only when accepted. */
int kbit_plugin_load(const char *path, kbit_registry_entry *e);

/* Validate a driver table (shared by the built-in driver and plugins);
 * writes the reason and returns 0 when the table is unusable. */
int kbit_driver_table_ok(const kbit_driver *d, char *reason, size_t reason_len);

/* The built-in CPU driver (backends/cpu). */
const kbit_driver *kbit_cpu_driver_entry(const kbit_host *host);

#endif
