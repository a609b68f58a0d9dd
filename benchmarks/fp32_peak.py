"""The CPU's real fp32 peak: a register-only AVX2 FMA loop, compiled here and run on 1..N threads.

    python benchmarks/fp32_peak.py            # prints GFLOP/s per thread count

A roofline needs the machine's compute limit. The usual estimate (cores x 2 FMA units x 8 floats x 2
x clock) assumes 256-bit FMA units; some CPUs split each AVX2 instruction into two 128-bit halves
(AMD Zen 1, the EPYC 7001 series) and peak at half that. So this measures it instead: 6 to 12
independent FMA chains per thread (enough to hide the FMA latency, few enough to stay in the 16 AVX
registers; the best count is reported), no memory traffic, one OpenMP thread per core. Needs a C
compiler (`cc`) with -mavx2 -mfma -fopenmp.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CHAIN_COUNTS = (6, 8, 10, 12)
KERNEL = r"""
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    long iterations = atol(argv[1]);
    float checksum = 0.0f;
    double began = omp_get_wtime();
    #pragma omp parallel reduction(+:checksum)
    {
        __m256 acc[CHAINS];
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_set1_ps(1.0f + c);
        const __m256 scale = _mm256_set1_ps(0.9999999f), shift = _mm256_set1_ps(1e-7f);
        for (long i = 0; i < iterations; i++) {
            #pragma GCC unroll CHAINS
            for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], scale, shift);
        }
        float lanes[8];
        for (int c = 0; c < CHAINS; c++) {
            _mm256_storeu_ps(lanes, acc[c]);
            for (int j = 0; j < 8; j++) checksum += lanes[j];  /* keeps the loop from being optimised away */
        }
    }
    double seconds = omp_get_wtime() - began;
    printf("%d %.9f %g\n", omp_get_max_threads(), seconds, checksum);
    return 0;
}
"""


def build(directory: Path, chains: int) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler (cc/gcc) on PATH")
    source, binary = directory / f"fma_peak_{chains}.c", directory / f"fma_peak_{chains}"
    source.write_text(KERNEL.replace("CHAINS", str(chains)), encoding="utf-8")
    subprocess.run([compiler, "-O2", "-mavx2", "-mfma", "-fopenmp", str(source), "-o", str(binary)], check=True)
    return binary


def _run_gflops(binary: Path, chains: int, threads: int, iterations: int, repeats: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OMP_PROC_BIND": "spread"}
    best = float("inf")
    for _ in range(repeats):
        out = subprocess.run([str(binary), str(iterations)], env=env, check=True, capture_output=True, text=True)
        best = min(best, float(out.stdout.split()[1]))
    return threads * iterations * chains * 8 * 2 / best / 1e9


def peak_gflops(threads: int, iterations: int = 100_000_000, repeats: int = 3) -> float:
    """fp32 GFLOP/s of the FMA loop on ``threads`` threads together: best over chain counts and repeats."""
    with tempfile.TemporaryDirectory() as tmp:
        return max(_run_gflops(build(Path(tmp), chains), chains, threads, iterations, repeats)
                   for chains in CHAIN_COUNTS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=100_000_000)
    args = parser.parse_args()
    single = peak_gflops(1, args.iterations)
    print(f"1 thread: {single:.1f} GFLOP/s fp32")
    for threads in range(2, (os.cpu_count() or 1) + 1):
        total = peak_gflops(threads, args.iterations)
        print(f"{threads} threads: {total:.1f} GFLOP/s fp32 ({total / single:.2f}x one thread)")


if __name__ == "__main__":
    main()
