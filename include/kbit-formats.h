/*
 * kbit-formats.h - the constants of the formats, as IEEE-754 binary32 bit
 * patterns (doc/numerics.md), and the enums that kernels need. Each backend
 * instantiates the tables in its own memory space (host array, CUDA
 * __constant__, OpenCL constant), so they are given as initializer lists of
 * uint32_t bit patterns.
 *
 * Device-safe: this header includes nothing and holds only macros and
 * enums, so it compiles as C, C++, CUDA/HIP and OpenCL C 1.2 (the kernels
 * and numerics/ include it; kbit.h includes it for the public API).
 */
#ifndef KBIT_FORMATS_H
#define KBIT_FORMATS_H

/* ------------------------------------------------------------------ */
/* Enums shared by the public API, the driver ABI and the kernels       */

/* Element types. */
typedef enum kbit_dtype {
    KBIT_F32 = 0,
    KBIT_F16 = 1,  /* IEEE binary16 */
    KBIT_BF16 = 2, /* bfloat16 */
    KBIT_U8 = 3,
    KBIT_I8 = 4,
    KBIT_I32 = 5,
    KBIT_I64 = 6,
    KBIT_F64 = 7
} kbit_dtype;

/* The 4-bit formats. */
typedef enum kbit_quant_type {
    KBIT_FP4 = 1, /* bitsandbytes quant_type 1 */
    KBIT_NF4 = 2  /* bitsandbytes quant_type 2 */
} kbit_quant_type;

/* Which code map a table is: lets a driver use tables it prepared once for
 * the two normative maps instead of looking at the values. */
typedef enum kbit_map_id {
    KBIT_MAP_ID_CUSTOM = 0,   /* any ascending map */
    KBIT_MAP_ID_SIGNED = 1,   /* kbit_dynamic_map(KBIT_MAP_SIGNED), bit for bit */
    KBIT_MAP_ID_UNSIGNED = 2  /* kbit_dynamic_map(KBIT_MAP_UNSIGNED) */
} kbit_map_id;

/* Optimizer kernels (numerics 6.3, 6.5). LAMB runs ADAM and LARS runs
 * MOMENTUM, with the update scale of max_unorm (6.4). */
typedef enum kbit_optim_kernel {
    KBIT_OPTK_ADAM = 0,
    KBIT_OPTK_ADEMAMIX = 1,
    KBIT_OPTK_MOMENTUM = 2,
    KBIT_OPTK_RMSPROP = 3,
    KBIT_OPTK_ADAGRAD = 4,
    KBIT_OPTK_LION = 5
} kbit_optim_kernel;

/* 8-bit optimizer states are quantized in blocks of this many elements, and
 * every optimizer op is split into blocks of this size. */
#define KBIT_OPTIM_BLOCK 256

/* The device-side scalars of one optimizer step (kbit_op_optimizer.scales),
 * written by optimizer_scales (numerics/optim_scales.h). */
enum {
    KBIT_OPTSCALE_GNORM = 0,   /* gnorm_scale x percentile clipping's scale: multiplies g */
    KBIT_OPTSCALE_UPDATE = 1,  /* update scale of max_unorm (1 when unused) */
    KBIT_OPTSCALE_CLIP = 2,    /* percentile clipping's scale alone */
    KBIT_OPTSCALE_PNORM = 3,   /* param_norm of max_unorm */
    KBIT_OPTSCALE_UNORM = 4,   /* unorm of max_unorm */
    KBIT_OPTSCALE_COUNT = 5
};

/* ------------------------------------------------------------------ */
/* Tables and constants                                                 */

/* NF4 code table (numerics 1.1): code q decodes to NF4[q]. */
#define KBIT_NF4_BITS_INIT \
    0xbf800000u, 0xbf3239b1u, 0xbf066b30u, 0xbeca32a0u, 0xbe91a24du, 0xbe3d353fu, 0xbdba7871u, 0x00000000u, \
    0x3da2faffu, 0x3e24cae3u, 0x3e7c04ddu, 0x3ead033au, 0x3ee1a4b8u, 0x3f1007abu, 0x3f3913b3u, 0x3f800000u

/* NF4 encoder thresholds (numerics 1.5): nf4(x) = count of i with x > T[i]. */
#define KBIT_NF4_THRESHOLD_BITS_INIT \
    0xbf591cd9u, 0xbf1c5270u, 0xbeeb8480u, 0xbeadea76u, 0xbe703cecu, 0xbe0d38bcu, 0xbd3a7871u, 0x3d22faffu, \
    0x3df64863u, 0x3e5067e0u, 0x3e9582d4u, 0x3ec753f9u, 0x3f006d03u, 0x3f248dafu, 0x3f5c89d9u

/* FP4 magnitude table (numerics 1.2): FP4[q] = FP4M[q & 7] * (q & 8 ? -1 : +1),
 * so code 8 decodes to -0.0. */
#define KBIT_FP4_MAGNITUDE_BITS_INIT \
    0x00000000u, 0x3baaaaabu, 0x3f2aaaabu, 0x3f800000u, 0x3eaaaaabu, 0x3f000000u, 0x3e2aaaabu, 0x3e800000u

/* FP4 encoder thresholds t_a..t_g on |x| (numerics 1.6), in that order. */
#define KBIT_FP4_THRESHOLD_BITS_INIT \
    0x3b2aaab9u, 0x3db00000u, 0x3e555555u, 0x3e955555u, 0x3ed55556u, 0x3f155550u, 0x3f555555u

/* Signed dynamic map (numerics 2.3, qmap1): 256 ascending entries. */
#define KBIT_DYNAMIC_SIGNED_BITS_INIT \
    0xbf7e3333u, 0xbf7a999au, 0xbf770000u, 0xbf736666u, 0xbf6fcccdu, 0xbf6c3333u, 0xbf68999au, 0xbf650000u, \
    0xbf616666u, 0xbf5dcccdu, 0xbf5a3333u, 0xbf56999au, 0xbf530000u, 0xbf4f6666u, 0xbf4bcccdu, 0xbf483333u, \
    0xbf44999au, 0xbf410000u, 0xbf3d6667u, 0xbf39cccdu, 0xbf363333u, 0xbf32999au, 0xbf2f0000u, 0xbf2b6667u, \
    0xbf27cccdu, 0xbf243333u, 0xbf20999au, 0xbf1d0000u, 0xbf196667u, 0xbf15cccdu, 0xbf123333u, 0xbf0e999au, \
    0xbf0b0000u, 0xbf076666u, 0xbf03cccdu, 0xbf003333u, 0xbef93332u, 0xbef20000u, 0xbeeaccccu, 0xbee39999u, \
    0xbedc6666u, 0xbed53332u, 0xbece0000u, 0xbec6ccccu, 0xbebf999au, 0xbeb86666u, 0xbeb13332u, 0xbeaa0000u, \
    0xbea2ccccu, 0xbe9b999au, 0xbe946666u, 0xbe8d3333u, 0xbe860000u, 0xbe7d9999u, 0xbe6f3333u, 0xbe60cccdu, \
    0xbe526666u, 0xbe440000u, 0xbe359999u, 0xbe273333u, 0xbe18cccdu, 0xbe0a6666u, 0xbdf80000u, 0xbddb3334u, \
    0xbdc9eb85u, 0xbdc428f7u, 0xbdbe6667u, 0xbdb8a3d7u, 0xbdb2e148u, 0xbdad1eb8u, 0xbda75c2au, 0xbda1999au, \
    0xbd9bd70bu, 0xbd96147bu, 0xbd9051ebu, 0xbd8a8f5du, 0xbd84cccdu, 0xbd7e147bu, 0xbd728f5du, 0xbd670a3du, \
    0xbd5b8520u, 0xbd500000u, 0xbd447ae1u, 0xbd38f5c2u, 0xbd2d70a3u, 0xbd21eb85u, 0xbd166667u, 0xbd0ae147u, \
    0xbcfeb852u, 0xbce7ae13u, 0xbcd0a3d7u, 0xbcb9999au, 0xbca28f5cu, 0xbc8b851fu, 0xbc68f5c3u, 0xbc3ae148u, \
    0xbc1f3b64u, 0xbc160418u, 0xbc0ccccdu, 0xbc039581u, 0xbbf4bc6au, 0xbbe24dd3u, 0xbbcfdf3cu, 0xbbbd70a4u, \
    0xbbab020du, 0xbb989374u, 0xbb8624ddu, 0xbb676c8au, 0xbb428f5cu, 0xbb1db22du, 0xbaf1a9fcu, 0xbaa7ef9du, \
    0xba7765ffu, 0xba59e83eu, 0xba3c6a80u, 0xba1eecc1u, 0xba016f00u, 0xb9c7e282u, 0xb98ce705u, 0xb923d70bu, \
    0xb8ba1f4bu, 0xb88aefb3u, 0xb8378034u, 0xb7b24206u, 0xb70205ffu, 0xb65a1a94u, 0xb513a3b7u, 0x00000000u, \
    0x3513a3b7u, 0x365a1a94u, 0x370205ffu, 0x37b24206u, 0x38378034u, 0x388aefb3u, 0x38ba1f4bu, 0x3923d70bu, \
    0x398ce705u, 0x39c7e282u, 0x3a016f00u, 0x3a1eecc1u, 0x3a3c6a80u, 0x3a59e83eu, 0x3a7765ffu, 0x3aa7ef9du, \
    0x3af1a9fcu, 0x3b1db22du, 0x3b428f5cu, 0x3b676c8au, 0x3b8624ddu, 0x3b989374u, 0x3bab020du, 0x3bbd70a4u, \
    0x3bcfdf3cu, 0x3be24dd3u, 0x3bf4bc6au, 0x3c039581u, 0x3c0ccccdu, 0x3c160418u, 0x3c1f3b64u, 0x3c3ae148u, \
    0x3c68f5c3u, 0x3c8b851fu, 0x3ca28f5cu, 0x3cb9999au, 0x3cd0a3d7u, 0x3ce7ae13u, 0x3cfeb852u, 0x3d0ae147u, \
    0x3d166667u, 0x3d21eb85u, 0x3d2d70a3u, 0x3d38f5c2u, 0x3d447ae1u, 0x3d500000u, 0x3d5b8520u, 0x3d670a3du, \
    0x3d728f5du, 0x3d7e147bu, 0x3d84cccdu, 0x3d8a8f5du, 0x3d9051ebu, 0x3d96147bu, 0x3d9bd70bu, 0x3da1999au, \
    0x3da75c2au, 0x3dad1eb8u, 0x3db2e148u, 0x3db8a3d7u, 0x3dbe6667u, 0x3dc428f7u, 0x3dc9eb85u, 0x3ddb3334u, \
    0x3df80000u, 0x3e0a6666u, 0x3e18cccdu, 0x3e273333u, 0x3e359999u, 0x3e440000u, 0x3e526666u, 0x3e60cccdu, \
    0x3e6f3333u, 0x3e7d9999u, 0x3e860000u, 0x3e8d3333u, 0x3e946666u, 0x3e9b999au, 0x3ea2ccccu, 0x3eaa0000u, \
    0x3eb13332u, 0x3eb86666u, 0x3ebf999au, 0x3ec6ccccu, 0x3ece0000u, 0x3ed53332u, 0x3edc6666u, 0x3ee39999u, \
    0x3eeaccccu, 0x3ef20000u, 0x3ef93332u, 0x3f003333u, 0x3f03cccdu, 0x3f076666u, 0x3f0b0000u, 0x3f0e999au, \
    0x3f123333u, 0x3f15cccdu, 0x3f196667u, 0x3f1d0000u, 0x3f20999au, 0x3f243333u, 0x3f27cccdu, 0x3f2b6667u, \
    0x3f2f0000u, 0x3f32999au, 0x3f363333u, 0x3f39cccdu, 0x3f3d6667u, 0x3f410000u, 0x3f44999au, 0x3f483333u, \
    0x3f4bcccdu, 0x3f4f6666u, 0x3f530000u, 0x3f56999au, 0x3f5a3333u, 0x3f5dcccdu, 0x3f616666u, 0x3f650000u, \
    0x3f68999au, 0x3f6c3333u, 0x3f6fcccdu, 0x3f736666u, 0x3f770000u, 0x3f7a999au, 0x3f7e3333u, 0x3f800000u

/* Unsigned dynamic map (numerics 2.3, qmap2): 256 ascending entries. */
#define KBIT_DYNAMIC_UNSIGNED_BITS_INIT \
    0x00000000u, 0x34ae7baau, 0x35500998u, 0x360e9b38u, 0x3692ccf6u, 0x36de4c51u, 0x3714e5d5u, 0x3783126eu, \
    0x37e171a0u, 0x381fe867u, 0x384f1800u, 0x387e479au, 0x3896bb99u, 0x38ae5364u, 0x38c5eb31u, 0x3906594bu, \
    0x394154cau, 0x397c5048u, 0x399ba5e4u, 0x39b923a2u, 0x39d6a162u, 0x39f41f22u, 0x3a08ce71u, 0x3a178d50u, \
    0x3a264c31u, 0x3a350b10u, 0x3a43c9efu, 0x3a5288d0u, 0x3a6147afu, 0x3a70068eu, 0x3a7ec56eu, 0x3a958106u, \
    0x3aba5e35u, 0x3adf3b64u, 0x3b020c49u, 0x3b147ae1u, 0x3b26e978u, 0x3b39580fu, 0x3b4bc6a7u, 0x3b5e353eu, \
    0x3b70a3d7u, 0x3b818937u, 0x3b8ac082u, 0x3b93f7ceu, 0x3b9d2f1au, 0x3ba66666u, 0x3baf9db3u, 0x3bb8d4fdu, \
    0x3bc20c4au, 0x3bcb4395u, 0x3bd47ae1u, 0x3bddb22eu, 0x3be6e978u, 0x3bf020c5u, 0x3bf95810u, 0x3c0147aeu, \
    0x3c05e354u, 0x3c0a7ef9u, 0x3c0f1aa0u, 0x3c13b645u, 0x3c1851ebu, 0x3c1ced92u, 0x3c218937u, 0x3c2f5c2au, \
    0x3c466667u, 0x3c5d70a3u, 0x3c747ae2u, 0x3c85c28fu, 0x3c9147aeu, 0x3c9ccccdu, 0x3ca851ebu, 0x3cb3d70bu, \
    0x3cbf5c29u, 0x3ccae147u, 0x3cd66667u, 0x3ce1eb85u, 0x3ced70a3u, 0x3cf8f5c3u, 0x3d023d70u, 0x3d080000u, \
    0x3d0dc28fu, 0x3d13851fu, 0x3d1947afu, 0x3d1f0a3du, 0x3d24cccdu, 0x3d2a8f5bu, 0x3d3051ebu, 0x3d36147bu, \
    0x3d3bd70au, 0x3d41999au, 0x3d475c28u, 0x3d4d1eb8u, 0x3d52e148u, 0x3d58a3d7u, 0x3d5e6667u, 0x3d6428f7u, \
    0x3d69eb85u, 0x3d6fae15u, 0x3d7570a5u, 0x3d7b3333u, 0x3d807ae2u, 0x3d835c29u, 0x3d863d71u, 0x3d891eb9u, \
    0x3d8c0000u, 0x3d8ee148u, 0x3d91c28fu, 0x3d94a3d7u, 0x3d97851fu, 0x3d9a6667u, 0x3d9d47afu, 0x3da028f6u, \
    0x3da30a3eu, 0x3da5eb85u, 0x3da8cccdu, 0x3dabae15u, 0x3dae8f5cu, 0x3db170a4u, 0x3db451ebu, 0x3db73333u, \
    0x3dba147bu, 0x3dbcf5c3u, 0x3dbfd70bu, 0x3dc2b852u, 0x3dc5999au, 0x3dc87ae2u, 0x3dcb5c29u, 0x3dd40000u, \
    0x3de26666u, 0x3df0cccdu, 0x3dff3333u, 0x3e06ccccu, 0x3e0e0000u, 0x3e153334u, 0x3e1c6666u, 0x3e23999au, \
    0x3e2accccu, 0x3e320000u, 0x3e393333u, 0x3e406666u, 0x3e47999au, 0x3e4eccccu, 0x3e560000u, 0x3e5d3333u, \
    0x3e646666u, 0x3e6b999au, 0x3e72cccdu, 0x3e7a0000u, 0x3e80999au, 0x3e843333u, 0x3e87ccccu, 0x3e8b6666u, \
    0x3e8f0000u, 0x3e92999au, 0x3e963333u, 0x3e99ccccu, 0x3e9d6666u, 0x3ea10000u, 0x3ea4999au, 0x3ea83333u, \
    0x3eabccccu, 0x3eaf6666u, 0x3eb30000u, 0x3eb69999u, 0x3eba3333u, 0x3ebdccccu, 0x3ec16666u, 0x3ec50000u, \
    0x3ec89999u, 0x3ecc3333u, 0x3ecfccccu, 0x3ed36666u, 0x3ed70000u, 0x3eda9999u, 0x3ede3332u, 0x3ee1ccccu, \
    0x3ee56666u, 0x3ee90000u, 0x3eec9999u, 0x3ef03332u, 0x3ef3ccccu, 0x3ef76666u, 0x3efb0000u, 0x3efe9999u, \
    0x3f01199au, 0x3f02e666u, 0x3f04b334u, 0x3f068000u, 0x3f084cccu, 0x3f0a199au, 0x3f0be666u, 0x3f0db334u, \
    0x3f0f8000u, 0x3f114ccdu, 0x3f13199au, 0x3f14e666u, 0x3f16b334u, 0x3f188000u, 0x3f1a4ccdu, 0x3f1c199au, \
    0x3f1de666u, 0x3f1fb334u, 0x3f218000u, 0x3f234ccdu, 0x3f25199au, 0x3f26e666u, 0x3f28b334u, 0x3f2a8000u, \
    0x3f2c4ccdu, 0x3f2e199au, 0x3f2fe666u, 0x3f31b334u, 0x3f338000u, 0x3f354ccdu, 0x3f37199au, 0x3f38e666u, \
    0x3f3ab334u, 0x3f3c8000u, 0x3f3e4ccdu, 0x3f40199au, 0x3f41e666u, 0x3f43b334u, 0x3f458000u, 0x3f474cccu, \
    0x3f49199au, 0x3f4ae666u, 0x3f4cb334u, 0x3f4e8000u, 0x3f504cccu, 0x3f52199au, 0x3f53e666u, 0x3f55b334u, \
    0x3f578000u, 0x3f594cccu, 0x3f5b199au, 0x3f5ce666u, 0x3f5eb334u, 0x3f608000u, 0x3f624cccu, 0x3f64199au, \
    0x3f65e666u, 0x3f67b334u, 0x3f698000u, 0x3f6b4cccu, 0x3f6d199au, 0x3f6ee666u, 0x3f70b334u, 0x3f728000u, \
    0x3f744cccu, 0x3f76199au, 0x3f77e666u, 0x3f79b334u, 0x3f7b8000u, 0x3f7d4cccu, 0x3f7f199au, 0x3f800000u

/* Nested (double) quantization blocksize of 4-bit absmax (numerics 3). */
#define KBIT_NESTED_BLOCK 256

/* Leaf size of the canonical fp64 pairwise sum (determinism 4). */
#define KBIT_PAIRSUM_LEAF 256

/* LLM.int8() constants (numerics 4 and 10), fp32 bit patterns. */
#define KBIT_INT8_INV127_BITS 0x3c010204u      /* f32(1/127): int8 dequant of weights */
#define KBIT_INT8_MM_DEQUANT_BITS 0x38820610u  /* f32(1/16129) = MM_DEQUANT_CONST */
#define KBIT_INT8_SCALE_NUM_BITS 0x42fe0000u   /* 127.0f: scale = 127 / absmax */

#endif /* KBIT_FORMATS_H */
