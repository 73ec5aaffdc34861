/*
 * tests/struct_layout.c - prints the size and the field offsets of every
 * public struct of kbit.h that the Python package mirrors with ctypes
 * (python/src/kbit/_lib.py), one line per struct:
 *
 *     kbit_quant_state 1296 quant_type=0 dtype=4 ...
 *
 * python/tests/test_layout.py compares them with the ctypes declarations, so
 * a field added to kbit.h and not to the mirror (which let
 * kbit_quantize_options_init write past Python's struct) fails a test
 * instead of corrupting the heap.
 */
#include <stddef.h>
#include <stdio.h>

#include <kbit.h>

#define FIELD(s, f) printf(" %s=%zu", #f, offsetof(s, f))
#define BEGIN(s) printf("%s %zu", #s, sizeof(s))
#define END() putchar('\n')

int main(void)
{
    BEGIN(kbit_driver_report);
    FIELD(kbit_driver_report, name); FIELD(kbit_driver_report, path);
    FIELD(kbit_driver_report, loaded); FIELD(kbit_driver_report, device_count);
    FIELD(kbit_driver_report, reason); FIELD(kbit_driver_report, description);
    FIELD(kbit_driver_report, families); FIELD(kbit_driver_report, families_reason);
    FIELD(kbit_driver_report, abi_major); FIELD(kbit_driver_report, abi_minor);
    FIELD(kbit_driver_report, limits);
    END();

    BEGIN(kbit_device_info);
    FIELD(kbit_device_info, driver); FIELD(kbit_device_info, name);
    FIELD(kbit_device_info, variant); FIELD(kbit_device_info, index);
    FIELD(kbit_device_info, threads); FIELD(kbit_device_info, memory_bytes);
    FIELD(kbit_device_info, families);
    END();

    BEGIN(kbit_quant_state);
    FIELD(kbit_quant_state, quant_type); FIELD(kbit_quant_state, dtype);
    FIELD(kbit_quant_state, blocksize); FIELD(kbit_quant_state, ndim);
    FIELD(kbit_quant_state, shape); FIELD(kbit_quant_state, numel);
    FIELD(kbit_quant_state, nblocks); FIELD(kbit_quant_state, code);
    FIELD(kbit_quant_state, nested); FIELD(kbit_quant_state, absmax);
    FIELD(kbit_quant_state, absmax2); FIELD(kbit_quant_state, offset);
    FIELD(kbit_quant_state, blocksize2); FIELD(kbit_quant_state, nblocks2);
    FIELD(kbit_quant_state, code2); FIELD(kbit_quant_state, owns_buffers);
    END();

    BEGIN(kbit_optim_config);
    FIELD(kbit_optim_config, kind); FIELD(kbit_optim_config, lr);
    FIELD(kbit_optim_config, beta1); FIELD(kbit_optim_config, beta2);
    FIELD(kbit_optim_config, beta3); FIELD(kbit_optim_config, alpha);
    FIELD(kbit_optim_config, t_alpha); FIELD(kbit_optim_config, t_beta3);
    FIELD(kbit_optim_config, eps); FIELD(kbit_optim_config, weight_decay);
    FIELD(kbit_optim_config, max_unorm); FIELD(kbit_optim_config, percentile_clipping);
    FIELD(kbit_optim_config, skip_zeros); FIELD(kbit_optim_config, state_bits);
    FIELD(kbit_optim_config, min_8bit_size); FIELD(kbit_optim_config, paged);
    END();

    BEGIN(kbit_optim_scalars);
    FIELD(kbit_optim_scalars, c1); FIELD(kbit_optim_scalars, c2);
    FIELD(kbit_optim_scalars, step_size); FIELD(kbit_optim_scalars, alpha_t);
    FIELD(kbit_optim_scalars, beta3_t); FIELD(kbit_optim_scalars, c1p);
    FIELD(kbit_optim_scalars, c2p);
    END();

    BEGIN(kbit_optim_state_info);
    FIELD(kbit_optim_state_info, kind); FIELD(kbit_optim_state_info, param_dtype);
    FIELD(kbit_optim_state_info, state_bits); FIELD(kbit_optim_state_info, n);
    FIELD(kbit_optim_state_info, step); FIELD(kbit_optim_state_info, device_bytes);
    FIELD(kbit_optim_state_info, gnorm_scale); FIELD(kbit_optim_state_info, param_norm);
    FIELD(kbit_optim_state_info, unorm); FIELD(kbit_optim_state_info, update_scale);
    END();

    BEGIN(kbit_optim_bnb_state);
    FIELD(kbit_optim_bnb_state, step); FIELD(kbit_optim_bnb_state, state1);
    FIELD(kbit_optim_bnb_state, state2); FIELD(kbit_optim_bnb_state, absmax1);
    FIELD(kbit_optim_bnb_state, absmax2); FIELD(kbit_optim_bnb_state, qmap1);
    FIELD(kbit_optim_bnb_state, qmap2); FIELD(kbit_optim_bnb_state, gnorm_vec);
    FIELD(kbit_optim_bnb_state, unorm_vec);
    END();

    BEGIN(kbit_tensor_info);
    FIELD(kbit_tensor_info, format); FIELD(kbit_tensor_info, dtype);
    FIELD(kbit_tensor_info, dtype_known); FIELD(kbit_tensor_info, ndim);
    FIELD(kbit_tensor_info, shape); FIELD(kbit_tensor_info, numel);
    FIELD(kbit_tensor_info, quant_type); FIELD(kbit_tensor_info, blocksize);
    FIELD(kbit_tensor_info, nested); FIELD(kbit_tensor_info, stored_bytes);
    FIELD(kbit_tensor_info, st_dtype);
    END();

    BEGIN(kbit_quantize_options);
    FIELD(kbit_quantize_options, bits); FIELD(kbit_quantize_options, quant_type);
    FIELD(kbit_quantize_options, double_quant); FIELD(kbit_quantize_options, blocksize);
    FIELD(kbit_quantize_options, compute_dtype); FIELD(kbit_quantize_options, quant_storage);
    FIELD(kbit_quantize_options, int8_threshold);
    FIELD(kbit_quantize_options, int8_has_fp16_weight);
    FIELD(kbit_quantize_options, skip_modules); FIELD(kbit_quantize_options, skip_count);
    FIELD(kbit_quantize_options, replace); FIELD(kbit_quantize_options, progress);
    FIELD(kbit_quantize_options, progress_ctx); FIELD(kbit_quantize_options, cast_other);
    FIELD(kbit_quantize_options, other_dtype); FIELD(kbit_quantize_options, components);
    FIELD(kbit_quantize_options, component_count);
    END();

    BEGIN(kbit_convert_report);
    FIELD(kbit_convert_report, tensors); FIELD(kbit_convert_report, converted);
    FIELD(kbit_convert_report, bytes_in); FIELD(kbit_convert_report, bytes_out);
    FIELD(kbit_convert_report, files_copied); FIELD(kbit_convert_report, shards);
    END();
    return 0;
}
