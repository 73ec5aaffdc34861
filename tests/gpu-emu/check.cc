/* tests/gpu-emu/check.cc - TEST ONLY: the emulation test's program. Runs
 * the cases of every family of families.h (or those named with --family)
 * and prints TAP. Options: --family NAME (repeatable), --quick or --full
 * (fewer or more cases: check.h). Exit status 0 when every line is ok. */
#include "check.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern "C" {
#include "numerics/half.h"
}

#define KBIT_EMU_FAMILY(name) void kbit_emu_family_##name();
#include "families.h"
#undef KBIT_EMU_FAMILY

namespace {

struct family {
    const char *name;
    void (*run)();
};

const family families[] = {
#define KBIT_EMU_FAMILY(name) {#name, kbit_emu_family_##name},
#include "families.h"
#undef KBIT_EMU_FAMILY
};

int tap_count, tap_failed;
bool quick, full;

} // namespace

bool emu_quick()
{
    return quick;
}

bool emu_full()
{
    return full;
}

bool emu_pick_dtype(int dtype_index, int bs_index, int salt)
{
    return full || (bs_index + salt) % 3 == dtype_index;
}

std::vector<int64_t> emu_sizes(int32_t bs, int32_t smallest, int64_t large)
{
    if (quick)
        return {large};
    if (full)
        return {1, (int64_t)bs + 1, large};
    if (bs == smallest)
        return {1, large};
    return {large};
}

void emu_tap(bool ok, const std::string &what)
{
    tap_count++;
    if (!ok)
        tap_failed++;
    printf("%s %d - %s\n", ok ? "ok" : "not ok", tap_count, what.c_str());
    fflush(stdout);
}

uint64_t emu_rng::next()
{
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

float emu_rng::uniform(float lo, float hi)
{
    return lo + (hi - lo) * (float)((next() >> 40) * (1.0 / 16777216.0));
}

size_t emu_dtype_size(kbit_dtype dtype)
{
    return dtype == KBIT_F32 ? 4 : 2;
}

const char *emu_dtype_name(kbit_dtype dtype)
{
    return dtype == KBIT_F32 ? "f32" : dtype == KBIT_F16 ? "f16" : "bf16";
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

emu_bytes emu_input(kbit_dtype dtype, int64_t n, uint64_t seed)
{
    emu_rng r(seed);
    emu_bytes x((size_t)n * emu_dtype_size(dtype));
    static const uint32_t edges[] = {
        0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00001u,
        0x00000001u, 0x807fffffu, 0x7f7fffffu, 0xff7fffffu, 0x33800000u, /* f16 denormal */
        0x477fe000u, /* f16 max */ 0x3f800001u, 0xbf7fffffu};
    float scale = 1.0f;
    for (int64_t i = 0; i < n; i++) {
        if (i % 64 == 0) {
            uint64_t k = r.next() % 8;
            scale = k == 0 ? 0.0f : k == 1 ? 1e-30f : k == 2 ? 6e4f : r.uniform(0.01f, 10.0f);
        }
        float v = scale * r.uniform(-1.0f, 1.0f);
        if (r.next() % 16 == 0)
            v = bits_f32(edges[r.next() % (sizeof edges / sizeof edges[0])]);
        unsigned char *p = x.data() + (size_t)i * emu_dtype_size(dtype);
        if (dtype == KBIT_F32) {
            memcpy(p, &v, 4);
        } else {
            uint16_t h = dtype == KBIT_F16 ? kbit_f32_to_f16(v) : kbit_f32_to_bf16(v);
            memcpy(p, &h, 2);
        }
    }
    return x;
}

emu_elem emu_elem_of(kbit_dtype dtype)
{
    return dtype == KBIT_F32 ? EMU_F32 : dtype == KBIT_F16 ? EMU_F16 : EMU_BF16;
}

static size_t elem_size(emu_elem e)
{
    return e == EMU_F32 ? 4 : e == EMU_F64 ? 8 : e == EMU_RAW ? 1 : 2;
}

static bool is_nan(emu_elem e, const unsigned char *p)
{
    uint64_t u = 0;
    memcpy(&u, p, elem_size(e)); /* little-endian hosts */
    switch (e) {
    case EMU_F32:
        return (u & 0x7fffffffu) > 0x7f800000u;
    case EMU_F64:
        return (u & 0x7fffffffffffffffull) > 0x7ff0000000000000ull;
    case EMU_F16:
        return (u & 0x7fffu) > 0x7c00u;
    case EMU_BF16:
        return (u & 0x7fffu) > 0x7f80u;
    default:
        return false;
    }
}

static bool both_nan(emu_elem e, const unsigned char *a, const unsigned char *b)
{
    return is_nan(e, a) && is_nan(e, b);
}

std::string emu_run(const std::vector<emu_out> &outs, const std::function<gpuError_t()> &launch,
                    bool any_grid)
{
    static const unsigned caps[] = {0, 1};
    static const char *const mode[] = {"as launched", "grid capped to 1 group"};
    for (int m = 0; m < (any_grid ? 2 : 1); m++) {
        for (const emu_out &o : outs)
            std::fill(o.got->begin(), o.got->end(), (unsigned char)0xa5);
        kbit_emu_grid_cap = caps[m];
        gpuError_t e = launch();
        kbit_emu_grid_cap = 0;
        if (e != gpuSuccess)
            return std::string("launch failed (") + mode[m] + ")";
        for (size_t k = 0; k < outs.size(); k++) {
            const emu_bytes &g = *outs[k].got, &w = *outs[k].want;
            const size_t es = elem_size(outs[k].elem);
            if (g.size() != w.size())
                return "output " + std::to_string(k) + ": sizes differ";
            for (size_t b = 0; b < w.size(); b++) {
                const size_t e0 = b / es * es; /* the element of byte b */
                if (g[b] != w[b] && !(es > 1 && e0 + es <= w.size() &&
                                      both_nan(outs[k].elem, &g[e0], &w[e0]))) {
                    char line[160];
                    snprintf(line, sizeof line,
                             "output %zu byte %zu: 0x%02x, reference 0x%02x (%s)", k, b, g[b],
                             w[b], mode[m]);
                    return line;
                }
            }
        }
    }
    return "";
}

int main(int argc, char **argv)
{
    std::vector<std::string> only;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = true;
        else if (strcmp(argv[i], "--full") == 0)
            full = true;
        else if (strcmp(argv[i], "--family") == 0 && i + 1 < argc)
            only.push_back(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--quick | --full] [--family NAME]...\n", argv[0]);
            return 2;
        }
    }
    for (const family &f : families) {
        bool run = only.empty();
        for (const std::string &o : only)
            run = run || o == f.name;
        if (run)
            f.run();
    }
    const char *report = kbit_emu_report();
    emu_tap(report[0] == '\0', std::string("every block's items passed the same barriers") +
                                   (report[0] ? ": " : "") + report);
    printf("1..%d\n", tap_count);
    return tap_failed ? 1 : 0;
}
