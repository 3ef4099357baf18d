/* The recurrences of surnames/kernels.py, each whole loop in one call (surnames/native.py
 * compiles this file and loads it with ctypes).
 *
 * Why C: at a training step of a few hundred names, each of torch's elementwise operations costs
 * more in dispatch, Python and passes over memory than its arithmetic; here a position's gate
 * activations, memory update and their gradients are one pass over rows that stay in the L1
 * cache, and the products call the same BLAS sgemm_/dgemm_ that torch.mm runs (libtorch's
 * own, handed over by set_gemm).
 *
 * Layout and meaning are kernels.py's (its docstring): packed rows sorted longest name first,
 * one row per (name, position); position t's `running[t]` rows begin at `starts[t]` and read the
 * first running[t] rows of position t - 1's block. Row-major arrays; a BLAS call sees each as
 * its transpose (column-major), so C = A B is computed as C^T = B^T A^T.
 *
 * Compiled twice, REAL = float and REAL = double (gradcheck's precision), from this file.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef void (*sgemm_t)(const char *, const char *, const int *, const int *, const int *, const float *,
                        const float *, const int *, const float *, const int *, const float *, float *, const int *);
typedef void (*dgemm_t)(const char *, const char *, const int *, const int *, const int *, const double *,
                        const double *, const int *, const double *, const int *, const double *, double *,
                        const int *);
static sgemm_t sgemm;
static dgemm_t dgemm;

void set_gemm(void *single, void *twice) {
    sgemm = (sgemm_t)single;
    dgemm = (dgemm_t)twice;
}

/* exp for floats, vectorizable (libm's expf is a call per element): 2^k e^r with
 * |r| <= ln(2)/2, Cephes's polynomial for e^r (about 1 ulp). Inputs are clamped where
 * e^x stays a normal float, so nothing downstream meets an infinity. */
static inline float exp_float(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
    float r = x - k * 0.693359375f + k * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline double exp_double(double x) { return exp(x); }

#define REAL float
#define EXP exp_float
#define GEMM sgemm
#define NAME(function) function##_float
#include "recurrences_body.h"
#undef REAL
#undef EXP
#undef GEMM
#undef NAME

#define REAL double
#define EXP exp_double
#define GEMM dgemm
#define NAME(function) function##_double
#include "recurrences_body.h"

/* The packed layout (kernels.py's _Packed) of padded letters [rows, B] for names that
 * consume `consumed` letters: names sorted by it, longest first (ties in their order), position t's
 * block holding the running names' letters. Writes running/starts [T], packed [N],
 * previous [N - running[0]], last [B] (N for a name that consumes none); returns T and puts N in
 * *total. The arrays are sized for the worst case by the caller. */
int64_t pack(int64_t rows, int64_t names, const int64_t *letters, const int64_t *consumed, int64_t *running,
             int64_t *starts, int64_t *packed, int64_t *previous, int64_t *last, int64_t *total) {
    int64_t longest = 0, n = 0;
    for (int64_t b = 0; b < names; b++)
        longest = consumed[b] > longest ? consumed[b] : longest;
    int64_t *place = calloc(longest + 2, sizeof(int64_t)); /* place[s]: the next rank for consumed = s */
    for (int64_t b = 0; b < names; b++)
        place[consumed[b]]++;
    for (int64_t t = 0, above = names; t < longest; t++) {
        above -= place[t];           /* names with consumed > t */
        running[t] = above;
        starts[t] = n;
        n += above;
    }
    for (int64_t s = longest, rank = 0; s >= 0; s--) {
        const int64_t count = place[s];
        place[s] = rank;
        rank += count;
    }
    for (int64_t b = 0; b < names; b++) {
        const int64_t s = consumed[b], rank = place[s]++;
        for (int64_t t = 0; t < s && t < rows; t++) {
            const int64_t row = starts[t] + rank;
            packed[row] = letters[t * names + b];
            if (t)
                previous[row - running[0]] = starts[t - 1] + rank;
        }
        last[b] = s ? starts[s - 1] + rank : n;
    }
    free(place);
    *total = n;
    return longest;
}
