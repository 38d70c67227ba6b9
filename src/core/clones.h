/* One binary for every x86-64: hot loops are compiled for AVX-512, for Haswell's
   AVX2 + FMA ("avx2" alone has no FMA: fmaf() would become a library call) and for the
   baseline, and the loader picks the best the CPU has. */
#ifndef CNN_CLONES_H
#define CNN_CLONES_H
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CNN_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#else
#define CNN_CLONES
#endif
#endif
