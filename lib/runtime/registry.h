/* lib/runtime/registry.h - the drivers kbit found: the built-in CPU driver
 * and the plugins, each with the reason it was refused or found no device,
 * and the op families each device implements. */
#ifndef KBIT_LIB_REGISTRY_H
#define KBIT_LIB_REGISTRY_H

#include "kbit-driver.h"

/* Devices of one driver whose families are recorded one by one; further
 * devices count as having the driver's families. */
#define KBIT_REGISTRY_DEVICES 64

typedef struct kbit_registry_entry {
    /* A full-size copy of the driver's table: the slots of minor versions
     * newer than the driver's are NULL ("not supported"). */
    kbit_driver table;
    const kbit_driver *driver; /* &table when accepted, NULL when refused */
    char name[64];             /* driver name, or the file name if refused */
    char path[1024];           /* plugin file or "(built in)" */
    char reason[512];          /* why refused / no device; "" if fine */
    int device_count;          /* >= 0; 0 when refused or no device */
    uint32_t families;         /* the claimed families that have every slot they need */
    char families_reason[256]; /* why a claimed family was dropped; "" if none */
    char limits[256];          /* the subsets of `limits`, in words */
    uint32_t device_families[KBIT_REGISTRY_DEVICES];
    const char *device_reason[KBIT_REGISTRY_DEVICES]; /* why device i lacks a family */
    int probed; /* device_count and device_* are filled in on first use */
} kbit_registry_entry;

/* Scan once (thread-safe) and return the entries; an entry returned by
 * kbit_registry_at or kbit_registry_find has been probed for devices. */
int kbit_registry_size(void);
const kbit_registry_entry *kbit_registry_at(int index);

/* The accepted driver called name, or NULL (then *entry, if given, is the
 * refused entry of that name, or NULL when nothing of that name was seen). */
const kbit_driver *kbit_registry_find(const char *name, const kbit_registry_entry **entry);

/* The families device `index` of an accepted entry implements. */
uint32_t kbit_registry_device_families(const kbit_registry_entry *e, int index,
                                       const char **reason);

/* Load and validate one plugin file into *e (lib/runtime/plugin.c). Returns
 * 1 if accepted. Keeps the library loaded only when accepted. */
int kbit_plugin_load(const char *path, kbit_registry_entry *e);

/* Validate a driver table (shared by the built-in driver and plugins) and
 * copy it into e->table; writes e->reason and returns 0 when unusable. */
int kbit_driver_accept(const kbit_driver *d, kbit_registry_entry *e);

/* The families of a table that have all their slots (lib/runtime/families.c);
 * why one was dropped goes to reason. */
uint32_t kbit_families_complete(const kbit_driver *table, uint32_t claimed, char *reason,
                                size_t reason_len);
/* A driver's subsets in words ("quant8: dtypes f32, blocksizes 64-256"). */
void kbit_limits_text(const kbit_family_limits *limits, char *out, size_t len);
/* The family bit of a checked op family, and its human name for messages
 * ("4-bit quantization"). */
const char *kbit_family_title(kbit_family family);

/* The built-in CPU driver (the CPU backend, linked into the library). */
const kbit_driver *kbit_cpu_driver_entry(const kbit_host *host);

#endif
