/* The core's measured peak, to put the kernels' GFLOP/s in proportion: fused multiply-add throughput on
 * independent register accumulators (float64 and float32, the widest vectors the CPU runs: AVX2 + FMA where
 * present), and dgemm/sgemm through the BLAS the core links (n x n, the best a library reaches). One thread;
 * an FMA counts as 2 FLOP. Timed in thread CPU time, so that on a shared machine the time the thread waits for a
 * core is not counted (compare with bench_core's CPU column); the best of 5 tries, since a virtual machine's steal
 * time can still be charged to the thread. usage: peak_flops [SECONDS_PER_TEST] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

#define ACC 12 /* independent accumulators: more than FMA latency x issue width, so the units never wait */

#if defined(__x86_64__) && defined(__GNUC__)
#define WIDE __attribute__((target("avx2,fma")))
#else
#define WIDE
#endif

typedef double v4d __attribute__((vector_size(32)));
typedef float v8f __attribute__((vector_size(32)));

/* GFLOP/s of `iters` rounds of ACC vector FMAs; the result is printed so the loop is not removed */
WIDE static double fma_f64(long iters, double *sink) {
  v4d acc[ACC], a = {1.0000001, 1.0000001, 1.0000001, 1.0000001}, b = {1e-9, 1e-9, 1e-9, 1e-9};
  for (int k = 0; k < ACC; ++k) acc[k] = (v4d){k, k, k, k};
  const double t0 = now();
  for (long it = 0; it < iters; ++it)
#pragma GCC unroll 12
    for (int k = 0; k < ACC; ++k) acc[k] = acc[k] * a + b;
  const double dt = now() - t0;
  double s = 0;
  for (int k = 0; k < ACC; ++k) s += acc[k][0] + acc[k][3];
  *sink += s;
  return 2.0 * 4 * ACC * (double)iters / dt * 1e-9;
}

WIDE static double fma_f32(long iters, double *sink) {
  v8f acc[ACC], a, b;
  for (int q = 0; q < 8; ++q) a[q] = 1.0000001f, b[q] = 1e-9f;
  for (int k = 0; k < ACC; ++k)
    for (int q = 0; q < 8; ++q) acc[k][q] = (float)k;
  const double t0 = now();
  for (long it = 0; it < iters; ++it)
#pragma GCC unroll 12
    for (int k = 0; k < ACC; ++k) acc[k] = acc[k] * a + b;
  const double dt = now() - t0;
  double s = 0;
  for (int k = 0; k < ACC; ++k) s += acc[k][0] + acc[k][7];
  *sink += s;
  return 2.0 * 8 * ACC * (double)iters / dt * 1e-9;
}

static double gemm_rate(int n, int single, double seconds) {
  const size_t nn = (size_t)n * n;
  double *A = malloc(3 * nn * sizeof *A);
  float *Af = malloc(3 * nn * sizeof *Af);
  if (!A || !Af) return 0;
  for (size_t q = 0; q < 3 * nn; ++q) A[q] = Af[q] = (float)((q % 17) * 0.01);
  int reps = 0;
  const double t0 = now();
  do {
    if (single)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, Af, n, Af + nn, n, 0.0f, Af + 2 * nn, n);
    else
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, A, n, A + nn, n, 0.0, A + 2 * nn, n);
    ++reps;
  } while (now() - t0 < seconds);
  const double dt = now() - t0;
  free(A), free(Af);
  return 2.0 * n * (double)nn * reps / dt * 1e-9;
}

int main(int argc, char **argv) {
  const double seconds = argc > 1 ? atof(argv[1]) : 0.5;
  double sink = 0;
#if defined(__x86_64__) && defined(__GNUC__)
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    printf("# no AVX2+FMA: vector FMA peak not measured\n");
  } else
#endif
  {
    long iters = 1000;
    while (1) { /* grow until one run takes the requested time */
      const double t0 = now();
      fma_f64(iters, &sink);
      if (now() - t0 > seconds) break;
      iters *= 2;
    }
    double f64 = 0, f32 = 0;
    for (int k = 0; k < 5; ++k) {
      const double a = fma_f64(iters, &sink), b = fma_f32(iters, &sink);
      f64 = a > f64 ? a : f64;
      f32 = b > f32 ? b : f32;
    }
    printf("fma_f64_gflops %.2f\n", f64);
    printf("fma_f32_gflops %.2f\n", f32);
  }
  double d = 0, s = 0;
  for (int k = 0; k < 5; ++k) {
    const double a = gemm_rate(512, 0, seconds / 2), b = gemm_rate(512, 1, seconds / 2);
    d = a > d ? a : d;
    s = b > s ? b : s;
  }
  printf("dgemm512_gflops %.2f\n", d);
  printf("sgemm512_gflops %.2f\n", s);
  return sink == 12345.0; /* never: keeps the accumulators alive */
}
