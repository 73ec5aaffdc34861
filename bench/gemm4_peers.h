/* bench/gemm4_peers.h - what `kbit bench gemm4` sets kbit's 4-bit matmul
 * beside: a plain fp32 GEMV/GEMM over the dequantized weight (what a user
 * without 4-bit kernels runs), and bitsandbytes' CPU 4-bit GEMV in its own
 * repacked layout. */
#ifndef KBIT_BENCH_GEMM4_PEERS_H
#define KBIT_BENCH_GEMM4_PEERS_H

#include <stddef.h>
#include <stdint.h>

/* out[M,N] = A[M,K] x W[N,K]^T in fp32 (16-wide partial sums, rows split
 * over the threads; vectorised for the CPU it runs on). */
void bench_fp32_gemm(int threads, const float *A, int64_t M, const float *W, int64_t N, int64_t K,
                     float *out);

/* bitsandbytes 0.50 exports gemv_4bit_inference_cpu_{nf4,fp4}_bf16 (built with
 * AVX512-BF16): M, N, K, x bf16 [M,K], w in the layout below, absmax bf16
 * [K/blocksize, N], out bf16 [M,N], blocksize, x row stride, out row stride. */
typedef void (*bench_bnb_gemv_fn)(int64_t M, int64_t N, int64_t K, const uint16_t *x,
                                  const uint8_t *w, const uint16_t *absmax, uint16_t *out,
                                  int64_t blocksize, int64_t x_stride, int64_t out_stride);
#define BENCH_BNB_GEMV_NF4 "gemv_4bit_inference_cpu_nf4_bf16"
#define BENCH_BNB_GEMV_FP4 "gemv_4bit_inference_cpu_fp4_bf16"

/* Whether bitsandbytes' layout can hold an N x K weight of this blocksize
 * (N a multiple of 32, K of the blocksize). */
int bench_bnb_layout_fits(int64_t N, int64_t K, int blocksize);

/* Repack a kbit weight (packed nibbles, fp32 absmax of flat blocks) the way
 * bitsandbytes' _convert_weight_packed_for_cpu does: for each group of 32
 * rows and each pair of columns (k, k+1), 32 bytes whose low nibbles hold rows
 * 0-15 and high nibbles rows 16-31 of the group (byte 2i + j: row i, column
 * k + j); absmax rounded to bf16 and transposed to [K/blocksize, N].
 * w_out: N*K/2 bytes; absmax_out: N*K/blocksize values. */
void bench_bnb_repack(const uint8_t *packed, const float *absmax, int64_t N, int64_t K,
                      int blocksize, uint8_t *w_out, uint16_t *absmax_out);

#endif
