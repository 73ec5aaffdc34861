"""kbit.autograd - bitsandbytes' matmul_4bit and matmul (LLM.int8()) as torch
autograd functions over libkbit.

Forward: kbit_gemm_4bit / kbit_int8_linear_forward. Backward: the input
gradient through the frozen quantized weight (kbit_gemm_4bit_backward /
kbit_int8_linear_backward, one dot32 per element), so LoRA adapters train on
top (QLoRA); the bias gradient is the sum of the output gradient. A 4-bit
weight gets no gradient (it is frozen, as in bitsandbytes). An int8 weight
with has_fp16_weights=True gets grad_W = grad_out^T @ X in torch.
"""
import warnings

import torch

from . import functional as F


def _flat(x):
    return x if x.dim() == 2 else x.reshape(-1, x.shape[-1])


class MatMul4Bit(torch.autograd.Function):
    @staticmethod
    def forward(ctx, A, B, out=None, bias=None, quant_state=None):
        ctx.state = quant_state
        ctx.bias_dtype = None if bias is None else bias.dtype
        ctx.save_for_backward(B)
        if A.numel() == 0:
            return torch.empty(A.shape[:-1] + (quant_state.shape[0],), dtype=A.dtype,
                               device=A.device)
        res = F.gemm_4bit(A.contiguous(), B, quant_state, bias=bias, fn="matmul_4bit")
        if out is not None:
            out.copy_(res)
            return out
        return res

    @staticmethod
    def backward(ctx, grad_output):
        (B,) = ctx.saved_tensors
        req_a, _, _, req_bias, _ = ctx.needs_input_grad
        grad_a = grad_bias = None
        if req_bias:
            grad_bias = grad_output.reshape(-1, grad_output.shape[-1]).sum(0, dtype=ctx.bias_dtype)
        if req_a:
            g = grad_output.contiguous()
            grad_a = F.gemm_4bit_backward(g, B, ctx.state, fn="matmul_4bit backward")
        return grad_a, None, None, grad_bias, None


def matmul_4bit(A, B, quant_state, out=None, bias=None):
    """out = A @ dequant(B)^T (+ bias), B a packed 4-bit weight of
    quant_state.shape [N, K]; differentiable in A and bias."""
    if quant_state is None:
        raise ValueError("quant_state is required")
    if len(quant_state.shape) != 2:
        raise ValueError("matmul_4bit: quant_state.shape must be 2D [N, K]")
    K = A.shape[-1]
    if K == quant_state.shape[0] and K != quant_state.shape[1]:
        warnings.warn("matmul_4bit: weight was quantized from a [K, N] tensor (quant_state.shape="
                      "%s); it is dequantized for this call" % list(quant_state.shape),
                      DeprecationWarning, stacklevel=2)
        W = F.dequantize_4bit(B, quant_state).to(A.dtype)
        res = torch.nn.functional.linear(A, W.t(), bias)
        return out.copy_(res) if out is not None else res
    needs_grad = torch.is_grad_enabled() and (A.requires_grad or (bias is not None and
                                                                  bias.requires_grad))
    if not needs_grad:
        if A.numel() == 0:
            return torch.empty(A.shape[:-1] + (quant_state.shape[0],), dtype=A.dtype,
                               device=A.device)
        res = F.gemm_4bit(A.contiguous(), B, quant_state, bias=bias, fn="matmul_4bit")
        return out.copy_(res) if out is not None else res
    return MatMul4Bit.apply(A, B, out, bias, quant_state)


class MatmulLtState:
    """bitsandbytes' MatmulLtState, the fields kbit's LLM.int8() path reads."""

    def __init__(self):
        self.CB = None
        self.SCB = None
        self.threshold = 0.0
        self.has_fp16_weights = True
        self.is_training = True
        self.use_pool = False
        self.idx = None
        self.outlier_pool = None

    def reset_grads(self):
        pass


class MatMul8bitLt(torch.autograd.Function):
    @staticmethod
    def forward(ctx, A, B, out=None, bias=None, state=None):
        state = state or MatmulLtState()
        if state.has_fp16_weights or state.CB is None:
            CB, SCB = F.int8_quantize_weight(B.contiguous())
            if not state.has_fp16_weights:
                state.CB, state.SCB = CB, SCB
        else:
            CB, SCB = state.CB, state.SCB
        ctx.state = state
        ctx.bias_dtype = None if bias is None else bias.dtype
        ctx.save_for_backward(CB, SCB, A if state.has_fp16_weights else None)
        if bias is not None and bias.dtype != A.dtype:
            bias = bias.to(A.dtype)
        if A.numel() == 0:
            return torch.empty(A.shape[:-1] + (CB.shape[0],), dtype=A.dtype, device=A.device)
        res = F.int8_linear_forward(A.contiguous(), CB, SCB, threshold=state.threshold,
                                    bias=bias)
        if out is not None:
            out.copy_(res)
            return out
        return res

    @staticmethod
    def backward(ctx, grad_output):
        CB, SCB, A = ctx.saved_tensors
        req_a, req_b, _, req_bias, _ = ctx.needs_input_grad
        grad_a = grad_b = grad_bias = None
        if req_bias:
            grad_bias = grad_output.reshape(-1, grad_output.shape[-1]).sum(0, dtype=ctx.bias_dtype)
        if req_a:
            grad_a = F.int8_linear_backward(grad_output.contiguous(), CB, SCB)
        if req_b and A is not None:
            grad_b = torch.matmul(_flat(grad_output).t(), _flat(A).to(grad_output.dtype))
        return grad_a, grad_b, None, grad_bias, None


def matmul(A, B, out=None, state=None, threshold=0.0, bias=None):
    """bitsandbytes.matmul: the LLM.int8() linear A @ W^T (+ bias), W given by
    B (an Int8Params or fp16 weight) and state (CB/SCB/threshold)."""
    state = state or MatmulLtState()
    if threshold > 0.0:
        state.threshold = threshold
    return MatMul8bitLt.apply(A, B, out, bias, state)
