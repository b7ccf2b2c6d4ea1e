#!/usr/bin/env bash
# Print CMAKE_ARGS for building llama-cpp-python on this CPU without AMX.
# Why: -march=native turns on AMX where cpuid reports it, but VMs that do not grant AMX
# tile state kill the process with SIGILL (seen here: tileloadd in ggml_backend_amx_mul_mat).
# So: no native build; each instruction set the kernel reports is switched on by hand.
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
args="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
has() { [[ " $flags " == *" $1 "* ]]; }
has avx && args+=" -DGGML_AVX=ON"
has avx2 && args+=" -DGGML_AVX2=ON"
has fma && args+=" -DGGML_FMA=ON"
has f16c && args+=" -DGGML_F16C=ON"
has bmi2 && args+=" -DGGML_BMI2=ON"
has avx_vnni && args+=" -DGGML_AVX_VNNI=ON"
if has avx512f && has avx512bw && has avx512vl && has avx512dq; then
  args+=" -DGGML_AVX512=ON"
  has avx512_vnni && args+=" -DGGML_AVX512_VNNI=ON"
  has avx512vbmi && args+=" -DGGML_AVX512_VBMI=ON"
  has avx512_bf16 && args+=" -DGGML_AVX512_BF16=ON"
fi
echo "$args"
