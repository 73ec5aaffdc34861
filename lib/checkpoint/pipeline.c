/* lib/checkpoint/pipeline.c - diffusers pipeline folders: model_index.json
 * and its component subfolders (kbit_pipeline_*), and their conversion: the
 * chosen components converted one by one through convert.c, the rest copied.
 * model_index.json comes from an untrusted folder: every component name is
 * checked before it becomes a path. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "checkpoint/convert.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/diffusers.h"
#include "checkpoint/files.h"
#include "checkpoint/limits.h"
#include "runtime/error.h"

#define MAX_COMPONENTS 256

struct kbit_pipeline {
    char *dir;
    json_t *index;                  /* owns the name, library and class strings */
    kbit_pipeline_component *c;
    size_t count;
};

int kbit_pipeline_is(const char *path)
{
    struct stat sb;
    return path && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) &&
           kbit_dfs_exists(path, "model_index.json");
}

KBIT_API void kbit_pipeline_close(kbit_pipeline *p)
{
    if (p == NULL)
        return;
    json_decref(p->index);
    free(p->c);
    free(p->dir);
    free(p);
}

/* A component name may only name a subfolder of the pipeline. */
static int plain_name(const char *s)
{
    return s[0] != '\0' && s[0] != '.' && strchr(s, '/') == NULL && strchr(s, '\\') == NULL &&
           strlen(s) < 256;
}

static int any_weights(const char *dir)
{
    return kbit_dfs_exists(dir, "diffusion_pytorch_model.safetensors") ||
           kbit_dfs_exists(dir, "diffusion_pytorch_model.safetensors.index.json") ||
           kbit_dfs_exists(dir, "model.safetensors") ||
           kbit_dfs_exists(dir, "model.safetensors.index.json");
}

/* Check component folder `sub` of p and fill what its files tell. */
static kbit_status check_component(const kbit_pipeline *p, kbit_pipeline_component *c)
{
    char *sub = kbit_ck_join(p->dir, c->name), *cfg = NULL, *text = NULL;
    struct stat sb;
    kbit_status st = KBIT_OK;
    if (sub == NULL)
        return kbit_error(KBIT_ENOMEM, "out of memory");
    if (lstat(sub, &sb) != 0)
        st = kbit_error(KBIT_EFORMAT, "%s/model_index.json names component '%s', but %s does "
                        "not exist", p->dir, c->name, sub);
    else if (S_ISLNK(sb.st_mode))
        st = kbit_error(KBIT_EFORMAT, "%s/model_index.json: component '%s' is a symbolic link "
                        "(it may lead outside the pipeline folder); kbit reads only "
                        "subfolders", p->dir, c->name);
    else if (!S_ISDIR(sb.st_mode))
        st = kbit_error(KBIT_EFORMAT, "%s/model_index.json: component '%s' is not a folder",
                        p->dir, c->name);
    if (st == KBIT_OK && (cfg = kbit_ck_join(sub, "config.json")) == NULL)
        st = kbit_error(KBIT_ENOMEM, "out of memory");
    size_t len = 0;
    json_t *j = NULL;
    if (st == KBIT_OK && kbit_dfs_exists(sub, "config.json") &&
        (st = kbit_file_read_text(cfg, KBIT_CK_JSON_FILE_MAX, &text, &len)) == KBIT_OK &&
        (st = kbit_ck_parse_config(cfg, text, len, &j, NULL)) == KBIT_OK) {
        json_t *q = json_object_get(j, "quantization_config");
        c->quantized = q != NULL && !json_is_null(q);
        json_decref(j);
    }
    if (st == KBIT_OK && (c->has_weights = any_weights(sub))) {
        kbit_dfs_layout layout;
        if ((st = kbit_dfs_locate(sub, text, &layout)) == KBIT_OK) {
            c->diffusers = layout.diffusers;
            const char *lib = c->library ? c->library : "";
            if ((strcmp(lib, "diffusers") == 0 && !layout.diffusers) ||
                (strcmp(lib, "transformers") == 0 && layout.diffusers))
                st = kbit_error(KBIT_EFORMAT, "%s mixes layouts: model_index.json says component "
                                "'%s' is a %s model, its weights are %s", sub, c->name, lib,
                                layout.single);
        }
    }
    free(text);
    free(cfg);
    free(sub);
    return st;
}

static kbit_status read_index(kbit_pipeline *p)
{
    char *path = kbit_ck_join(p->dir, "model_index.json"), *text = NULL;
    if (path == NULL)
        return kbit_error(KBIT_ENOMEM, "out of memory");
    size_t len = 0;
    /* written by Python's json module: read by its rules, as config.json */
    kbit_status st = kbit_file_read_text(path, KBIT_CK_JSON_FILE_MAX, &text, &len);
    if (st == KBIT_OK)
        st = kbit_ck_parse_config(path, text, len, &p->index, NULL);
    free(text);
    const char *key;
    json_t *v;
    if (st == KBIT_OK && (p->c = calloc(json_object_size(p->index) + 1, sizeof *p->c)) == NULL)
        st = kbit_error(KBIT_ENOMEM, "out of memory");
    if (st == KBIT_OK)
        json_object_foreach(p->index, key, v) {
            /* components are [library, class] pairs; "_class_name" and other
             * values (flags such as requires_safety_checker) are settings */
            if (key[0] == '_' || !json_is_array(v) || json_array_size(v) != 2)
                continue;
            json_t *lib = json_array_get(v, 0), *cls = json_array_get(v, 1);
            if (json_is_null(lib) && json_is_null(cls))
                continue; /* an optional component left out */
            if ((!json_is_null(lib) && !json_is_string(lib)) || !json_is_string(cls)) {
                st = kbit_error(KBIT_EFORMAT, "%s: component '%.200s' is not [library, class] "
                                "strings", path, key);
                break;
            }
            if (!plain_name(key)) {
                st = kbit_error(KBIT_EFORMAT, "%s names component '%.200s', which is not a "
                                "plain subfolder name (no '/', no leading '.')", path, key);
                break;
            }
            if (p->count == MAX_COMPONENTS) {
                st = kbit_error(KBIT_EFORMAT, "%s names more than %d components", path,
                                MAX_COMPONENTS);
                break;
            }
            kbit_pipeline_component *c = &p->c[p->count++];
            c->name = key;
            c->library = json_string_value(lib);
            c->class_name = json_string_value(cls);
            if ((st = check_component(p, c)) != KBIT_OK)
                break;
        }
    free(path);
    return st;
}

KBIT_API kbit_status kbit_pipeline_open(const char *path, kbit_pipeline **out)
{
    kbit_clear_error();
    if (path == NULL || out == NULL)
        return kbit_error(KBIT_EINVAL, "kbit_pipeline_open: %s is NULL",
                          path ? "pipeline" : "path");
    struct stat sb;
    if (stat(path, &sb) != 0)
        return kbit_error(KBIT_EIO, "%s: %s", path, strerror(errno));
    if (!kbit_pipeline_is(path))
        return kbit_error(KBIT_EINVAL, "%s is not a diffusers pipeline folder (no "
                          "model_index.json)", path);
    if (any_weights(path))
        return kbit_error(KBIT_EFORMAT, "%s mixes layouts: a pipeline folder (model_index.json) "
                          "with weights of its own beside its components", path);
    kbit_pipeline *p = calloc(1, sizeof *p);
    if (p == NULL || (p->dir = strdup(path)) == NULL) {
        free(p);
        return kbit_error(KBIT_ENOMEM, "out of memory");
    }
    kbit_status st = read_index(p);
    if (st != KBIT_OK) {
        kbit_pipeline_close(p);
        return st;
    }
    *out = p;
    return KBIT_OK;
}

KBIT_API int64_t kbit_pipeline_count(const kbit_pipeline *p)
{
    return p ? (int64_t)p->count : 0;
}

KBIT_API kbit_status kbit_pipeline_component_info(const kbit_pipeline *p, int64_t i,
                                                  kbit_pipeline_component *info)
{
    kbit_clear_error();
    if (p == NULL || info == NULL)
        return kbit_error(KBIT_EINVAL, "kbit_pipeline_component_info: %s is NULL",
                          p ? "info" : "pipeline");
    if (i < 0 || (size_t)i >= p->count)
        return kbit_error(KBIT_EINVAL, "kbit_pipeline_component_info: index %lld is out of "
                          "range (%zu components)", (long long)i, p->count);
    *info = p->c[i];
    return KBIT_OK;
}

/* ------------------------------------------------------------------ */
/* Conversion                                                            */

/* The denoiser diffusers' pipelines name: transformer or unet (and the
 * numbered second ones, e.g. Wan 2.2's transformer_2). */
static int is_denoiser(const char *name)
{
    static const char *const bases[] = { "transformer", "unet" };
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(bases[i]);
        if (strncmp(name, bases[i], n) != 0)
            continue;
        if (name[n] == '\0')
            return 1;
        if (name[n] == '_' && name[n + 1] != '\0' && strspn(name + n + 1, "0123456789") ==
                                                         strlen(name + n + 1))
            return 1;
    }
    return 0;
}

static kbit_status no_weights(const kbit_pipeline *p, const char *name)
{
    return kbit_error(KBIT_EFORMAT, "%s: component '%s' has no weights (no "
                      "diffusion_pytorch_model.safetensors, model.safetensors or their "
                      "index)", p->dir, name);
}

/* Which components to convert: sel[i] = 1. */
static kbit_status choose(const kbit_pipeline *p, const kbit_quantize_options *q, int *sel)
{
    if (q == NULL) {
        for (size_t i = 0; i < p->count; i++)
            sel[i] = p->c[i].quantized && p->c[i].has_weights;
        return KBIT_OK;
    }
    if (q->components) {
        for (int k = 0; k < q->component_count; k++) {
            size_t i = 0;
            while (i < p->count && strcmp(p->c[i].name, q->components[k]) != 0)
                i++;
            if (i == p->count) {
                char list[512] = "";
                for (size_t j = 0; j < p->count; j++)
                    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                             j ? ", " : "", p->c[j].name);
                return kbit_error(KBIT_EINVAL, "%s/model_index.json names no component '%.200s' "
                                  "(it has: %s)", p->dir, q->components[k], list);
            }
            if (!p->c[i].has_weights)
                return no_weights(p, p->c[i].name);
            sel[i] = 1;
        }
        return KBIT_OK;
    }
    int found = 0;
    for (size_t i = 0; i < p->count; i++)
        if (is_denoiser(p->c[i].name)) {
            if (!p->c[i].has_weights)
                return no_weights(p, p->c[i].name);
            sel[i] = 1;
            found = 1;
        }
    if (!found)
        return kbit_error(KBIT_EINVAL, "%s: model_index.json names no denoiser (transformer or "
                          "unet); choose the components to quantize (--components)", p->dir);
    return KBIT_OK;
}

/* Every entry of the pipeline folder, converted or copied. */
static kbit_status walk(conv *c, const kbit_pipeline *p, kbit_checkpoint **ck, const char *out)
{
    DIR *d = opendir(p->dir);
    if (d == NULL)
        return kbit_error(KBIT_EIO, "cannot list %s: %s", p->dir, strerror(errno));
    kbit_status st = KBIT_OK;
    struct dirent *de;
    while (st == KBIT_OK && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        size_t i = 0;
        while (i < p->count && !(ck[i] && strcmp(p->c[i].name, de->d_name) == 0))
            i++;
        char *src = kbit_ck_join(p->dir, de->d_name), *dst = kbit_ck_join(out, de->d_name);
        if (src == NULL || dst == NULL)
            st = kbit_error(KBIT_ENOMEM, "out of memory");
        else if (i == p->count)
            st = kbit_conv_copy(c, src, dst);
        else if (mkdir(dst, 0755) != 0)
            st = kbit_error(KBIT_EIO, "cannot create %s: %s", dst, strerror(errno));
        else
            st = kbit_conv_checkpoint(c, ck[i], dst);
        free(src);
        free(dst);
    }
    closedir(d);
    return st;
}

kbit_status kbit_pipeline_convert(conv *c, const char *in, const char *out)
{
    kbit_pipeline *p = NULL;
    kbit_status st = kbit_pipeline_open(in, &p);
    if (st != KBIT_OK)
        return st;
    int *sel = calloc(p->count + 1, sizeof *sel);
    kbit_checkpoint **ck = calloc(p->count + 1, sizeof *ck);
    if (sel == NULL || ck == NULL)
        st = kbit_error(KBIT_ENOMEM, "out of memory");
    if (st == KBIT_OK)
        st = choose(p, kbit_conv_options(c), sel);
    /* open (and so validate) every chosen component before writing anything */
    for (size_t i = 0; st == KBIT_OK && i < p->count; i++) {
        char *sub = sel[i] ? kbit_ck_join(p->dir, p->c[i].name) : NULL;
        if (sel[i] && sub == NULL)
            st = kbit_error(KBIT_ENOMEM, "out of memory");
        else if (sel[i] && (st = kbit_checkpoint_open(sub, &ck[i])) == KBIT_OK)
            kbit_conv_count(c, ck[i]);
        free(sub);
    }
    if (st == KBIT_OK)
        st = walk(c, p, ck, out);
    for (size_t i = 0; ck && i < p->count; i++)
        kbit_checkpoint_close(ck[i]);
    free(ck);
    free(sel);
    kbit_pipeline_close(p);
    return st;
}
