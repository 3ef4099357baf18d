/* The bootstrap's row weights (surnames/bootstrap.py), compiled into the same library as the
 * recurrences (surnames/native.py).
 *
 * Why C: a scoring stage draws 2 000 resamples of about 92 000 rows; drawn with torch.randint
 * and counted with torch.bincount, that was about 2 s of every scoring stage and of evaluate.
 *
 * The draws are counter-based, so any draw can be made alone and in any order: value number c
 * is SplitMix64's output for counter c under the seed, and a uniform index below n is
 * (high 32 bits x n) >> 32 (Lemire's multiply-shift; its bias, under n / 2^32, is below 3e-6
 * here: n is at most a fold's 12 540 training names). bootstrap.py's numpy loop computes
 * the very same numbers where this library is not built.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

static inline uint64_t mixed(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline uint64_t below(uint64_t key, uint64_t counter, uint64_t n) {
    uint64_t value = mixed(key + (counter + 1) * 0x9E3779B97F4A7C15ULL);
    return ((value >> 32) * n) >> 32;
}

struct job {
    uint64_t key;
    int64_t first_draw, draws, n_folds, n_groups, rows;
    const int64_t *sizes, *starts, *group_of_row;
    double *weights;
    int64_t failed;
};

static void *run(void *argument) {
    struct job *job = argument;
    uint32_t *counts = malloc(sizeof *counts * (size_t)(job->n_groups > 0 ? job->n_groups : 1));
    if (!counts) {
        job->failed = 1;
        return NULL;
    }
    for (int64_t d = 0; d < job->draws; d++) {
        uint64_t draw = (uint64_t)(job->first_draw + d);
        for (int64_t g = 0; g < job->n_groups; g++)
            counts[g] = 0;
        for (int64_t pick = 0; pick < job->n_folds; pick++) {
            uint64_t trial = draw * (uint64_t)job->n_folds + (uint64_t)pick;
            int64_t fold = (int64_t)below(job->key, (1ULL << 63) + trial, (uint64_t)job->n_folds);
            uint32_t *names = counts + job->starts[fold];
            uint64_t size = (uint64_t)job->sizes[fold];
            for (uint64_t k = 0; k < size; k++)
                names[below(job->key, (trial << 32) + k, size)]++;
        }
        double *row = job->weights + d * job->rows;
        for (int64_t r = 0; r < job->rows; r++)
            row[r] = counts[job->group_of_row[r]];
    }
    free(counts);
    return NULL;
}

/* Row weights [draws, rows] (doubles) of draws first_draw .. first_draw + draws - 1: each draw
 * picks n_folds folds with replacement (counter 2^63 + draw * n_folds + pick), and for each
 * pick as many names of that fold as it has, with replacement (counter
 * (draw * n_folds + pick) * 2^32 + name); fold f's names are groups starts[f] ..
 * starts[f] + sizes[f] - 1, and a row's weight is the number of times its group was drawn.
 * `threads` threads take a share of the draws each (a draw is the same whoever makes it).
 * Returns 0, or -1 when out of memory or threads. */
int64_t bootstrap_weights(uint64_t key, int64_t first_draw, int64_t draws, int64_t n_folds, const int64_t *sizes,
                          const int64_t *starts, int64_t n_groups, int64_t rows, const int64_t *group_of_row,
                          double *weights, int64_t threads) {
    enum { MOST = 64 };
    struct job jobs[MOST];
    pthread_t ids[MOST];
    int started[MOST] = {0};
    if (threads > draws)
        threads = draws;
    if (threads > MOST)
        threads = MOST;
    if (threads < 1)
        threads = 1;
    for (int64_t t = 0; t < threads; t++) {
        int64_t begin = draws * t / threads, end = draws * (t + 1) / threads;
        jobs[t] = (struct job){key, first_draw + begin, end - begin, n_folds, n_groups, rows, sizes, starts,
                               group_of_row, weights + begin * rows, 0};
    }
    for (int64_t t = 1; t < threads; t++)  /* this thread takes the first share */
        started[t] = pthread_create(&ids[t], NULL, run, &jobs[t]) == 0;
    run(&jobs[0]);
    int64_t failed = jobs[0].failed;
    for (int64_t t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(ids[t], NULL);
        else
            run(&jobs[t]);  /* no thread to be had: do its share here */
        failed |= jobs[t].failed;
    }
    return failed ? -1 : 0;
}
