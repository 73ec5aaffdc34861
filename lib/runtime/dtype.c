/* lib/runtime/dtype.c - element sizes and names. */
#include "config.h"

#include "kbit.h"

KBIT_API size_t kbit_dtype_size(kbit_dtype dtype)
{
    switch (dtype) {
    case KBIT_F32: case KBIT_I32: return 4;
    case KBIT_F16: case KBIT_BF16: return 2;
    case KBIT_U8: case KBIT_I8: return 1;
    case KBIT_I64: case KBIT_F64: return 8;
    }
    return 0;
}

KBIT_API const char *kbit_dtype_name(kbit_dtype dtype)
{
    switch (dtype) {
    case KBIT_F32: return "f32";
    case KBIT_F16: return "f16";
    case KBIT_BF16: return "bf16";
    case KBIT_U8: return "u8";
    case KBIT_I8: return "i8";
    case KBIT_I32: return "i32";
    case KBIT_I64: return "i64";
    case KBIT_F64: return "f64";
    }
    return NULL;
}
