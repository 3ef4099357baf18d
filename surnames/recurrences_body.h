/* The body of recurrences.c, included once per REAL (float, double); see there. */

/* Row-major C[n, cols] = A[n, inner] op(B) + beta C, A and C contiguous; B has leading
 * dimension ldb and is stored [inner, cols], or [cols, inner] when `transposed` (op: its
 * transpose). The hidden weights are read in place this way: weight[:, input_size:]. */
static void NAME(product)(int64_t n, int64_t inner, int64_t cols, const REAL *a, const REAL *b, int64_t ldb,
                          int transposed, REAL beta, REAL *c) {
    const int m = (int)cols, rows = (int)n, k = (int)inner, ld = (int)ldb;
    const REAL one = 1;
    GEMM(transposed ? "T" : "N", "N", &m, &rows, &k, &one, b, &ld, a, &k, &beta, c, &m);
}

/* The hidden weights, [G, H] inside weight [G, input_size + H]. */
struct NAME(weights) {
    const REAL *hidden;
    int64_t ld;
};

/* states[n, H] -> out[n, G] += states W_h^T (forward); grad[n, G] -> out[n, H] = grad W_h (backward). */
static void NAME(forward_product)(int64_t n, int64_t h, int64_t g, const REAL *states, struct NAME(weights) w,
                                  REAL *out) {
    NAME(product)(n, h, g, states, w.hidden, w.ld, 1, 1, out);
}

static void NAME(backward_product)(int64_t n, int64_t h, int64_t g, const REAL *grad, struct NAME(weights) w,
                                   REAL *out) {
    NAME(product)(n, g, h, grad, w.hidden, w.ld, 0, 0, out);
}

static struct NAME(weights) NAME(hidden_of)(const REAL *weight, int64_t input_size, int64_t h) {
    struct NAME(weights) w = {weight + input_size, input_size + h};
    return w;
}

/* pre [N, G] = the letters' pre-activations: weight[:, letter] + bias (a Linear layer applied
 * to a one-hot letter is a column lookup), through a transposed table so rows are copied whole. */
void NAME(inputs)(int64_t rows, int64_t g, int64_t input_size, int64_t h, const int64_t *letters,
                  const REAL *weight, const REAL *bias, REAL *pre) {
    const int64_t width = input_size + h;
    REAL *table = malloc(input_size * g * sizeof(REAL));
    for (int64_t j = 0; j < g; j++)
        for (int64_t letter = 0; letter < input_size; letter++)
            table[letter * g + j] = weight[j * width + letter] + bias[j];
    for (int64_t row = 0; row < rows; row++)
        memcpy(pre + row * g, table + letters[row] * g, g * sizeof(REAL));
    free(table);
}

/* grad_weight [G, input_size + H] and grad_bias [G] from the pre-activation gradients
 * grad_pre [N, G] and the states [N, H] each position produced: the letters' columns gather
 * their rows' gradients, the hidden columns get one product a position (position 0 read zeros). */
void NAME(weight_grads)(int64_t positions, const int64_t *running, const int64_t *starts, int64_t h, int64_t g,
                        int64_t input_size, const int64_t *letters, const REAL *grad_pre, const REAL *states,
                        REAL *grad_weight, REAL *grad_bias) {
    const int64_t width = input_size + h, rows = starts[positions - 1] + running[positions - 1];
    REAL *table = calloc(input_size * g, sizeof(REAL));
    memset(grad_bias, 0, g * sizeof(REAL));
    for (int64_t row = 0; row < rows; row++) {
        REAL *restrict into = table + letters[row] * g, *restrict sum = grad_bias;
        const REAL *restrict from = grad_pre + row * g;
        for (int64_t j = 0; j < g; j++)
            into[j] += from[j], sum[j] += from[j];
    }
    for (int64_t j = 0; j < g; j++) {
        for (int64_t letter = 0; letter < input_size; letter++)
            grad_weight[j * width + letter] = table[letter * g + j];
        memset(grad_weight + j * width + input_size, 0, h * sizeof(REAL));
    }
    free(table);
    if (positions < 2)
        return;
    /* hidden columns: C[G, H] = P^T S over the rows after position 0 (one large product is faster
     * than one a position): P = those rows of grad_pre, S = the states they read, gathered;
     * column-major, C^T = S^T P. */
    const int64_t later = rows - running[0];
    REAL *read = aligned_alloc(64, (later * h * sizeof(REAL) + 63) / 64 * 64); /* as torch's tensors: MKL's
                                                                                   * bits depend on alignment */
    for (int64_t t = 1; t < positions; t++)
        memcpy(read + (starts[t] - running[0]) * h, states + starts[t - 1] * h, running[t] * h * sizeof(REAL));
    const int m = (int)h, n = (int)g, k = (int)later, ld_c = (int)width, ld_p = (int)g;
    const REAL one = 1;
    GEMM("N", "T", &m, &n, &k, &one, read, &m, grad_pre + running[0] * g, &ld_p, &one, grad_weight + input_size,
         &ld_c);
    free(read);
}

static inline REAL NAME(sigmoid)(REAL x) { return 1 / (1 + EXP(-x)); }

static inline REAL NAME(tanh)(REAL x) { return 2 / (1 + EXP(-2 * x)) - 1; }

/* The course RNN: states [N, H] hold the letters' pre-activations and become the states. */
void NAME(linear_forward)(int64_t positions, const int64_t *running, const int64_t *starts, int64_t h, REAL *states,
                          const REAL *weight, int64_t input_size) {
    for (int64_t t = 1; t < positions; t++)
        NAME(forward_product)(running[t], h, h, states + starts[t - 1] * h, NAME(hidden_of)(weight, input_size, h),
                              states + starts[t] * h);
}

/* grad [N, H]: d loss / d state in, d loss / d pre-activation out (the same for a linear cell).
 * A row that runs on to position t has no output gradient of its own: overwritten. */
void NAME(linear_backward)(int64_t positions, const int64_t *running, const int64_t *starts, int64_t h, REAL *grad,
                           const REAL *weight, int64_t input_size) {
    for (int64_t t = positions - 1; t > 0; t--)
        NAME(backward_product)(running[t], h, h, grad + starts[t] * h, NAME(hidden_of)(weight, input_size, h),
                               grad + starts[t - 1] * h);
}

/* The tanh RNN: as linear_forward, then tanh in place. */
void NAME(tanh_forward)(int64_t positions, const int64_t *running, const int64_t *starts, int64_t h, REAL *states,
                        const REAL *weight, int64_t input_size) {
    for (int64_t t = 0; t < positions; t++) {
        REAL *block = states + starts[t] * h;
        if (t)
            NAME(forward_product)(running[t], h, h, states + starts[t - 1] * h, NAME(hidden_of)(weight, input_size, h),
                                  block);
        for (int64_t j = 0; j < running[t] * h; j++)
            block[j] = NAME(tanh)(block[j]);
    }
}

void NAME(tanh_backward)(int64_t positions, const int64_t *running, const int64_t *starts, int64_t h, REAL *grad,
                         const REAL *states, const REAL *weight, int64_t input_size) {
    for (int64_t t = positions - 1; t >= 0; t--) {
        REAL *block = grad + starts[t] * h;
        const REAL *state = states + starts[t] * h;
        for (int64_t j = 0; j < running[t] * h; j++)
            block[j] *= 1 - state[j] * state[j];
        if (t)
            NAME(backward_product)(running[t], h, h, block, NAME(hidden_of)(weight, input_size, h),
                                   grad + starts[t - 1] * h);
    }
}

/* One row of the LSTM at one position, after the sigmoids: the candidate's tanh, the memory update, h.
 * (restrict on parameters: gcc then knows the rows do not overlap, and vectorizes.) */
static inline void NAME(lstm_row)(int64_t h, const REAL *restrict in, const REAL *restrict f, const REAL *restrict o,
                                  REAL *restrict candidate, const REAL *restrict before, REAL *restrict memory,
                                  REAL *restrict tanh_memory, REAL *restrict state) {
    for (int64_t j = 0; j < h; j++) {
        candidate[j] = NAME(tanh)(candidate[j]);
        memory[j] = f[j] * before[j] + in[j] * candidate[j];
        tanh_memory[j] = NAME(tanh)(memory[j]);
        state[j] = o[j] * tanh_memory[j];
    }
}

/* The LSTM. gates [N, G]: the pre-activations in the order input, forget, output, candidate
 * (an open gate has no block), the activations out. memories, tanh_memories, states [N, H].
 * An open gate reads `ones`; position 0 reads `zeros` as the previous memory state: the loops have
 * no branches, so the compiler vectorizes them. */
void NAME(lstm_forward)(int64_t positions, const int64_t *running, const int64_t *starts, int64_t h, int64_t forget,
                        int64_t output, REAL *gates, const REAL *weight, int64_t input_size, REAL *memories, REAL *tanh_memories, REAL *states) {
    const int64_t sigmoids = (1 + forget + output) * h, width = sigmoids + h;
    REAL *ones = malloc(2 * h * sizeof(REAL)), *zeros = ones + h;
    for (int64_t j = 0; j < h; j++)
        ones[j] = 1, zeros[j] = 0;
    for (int64_t t = 0; t < positions; t++) {
        if (t)
            NAME(forward_product)(running[t], h, width, states + starts[t - 1] * h,
                                  NAME(hidden_of)(weight, input_size, h), gates + starts[t] * width);
        for (int64_t r = 0; r < running[t]; r++) {
            const int64_t row = starts[t] + r;
            REAL *gate = gates + row * width;
            for (int64_t j = 0; j < sigmoids; j++)
                gate[j] = NAME(sigmoid)(gate[j]);
            NAME(lstm_row)(h, gate, forget ? gate + h : ones, output ? gate + (1 + forget) * h : ones,
                           gate + sigmoids, t ? memories + (starts[t - 1] + r) * h : zeros, memories + row * h,
                           tanh_memories + row * h, states + row * h);
        }
    }
    free(ones);
}

/* One row of the LSTM's backward step: d loss / d pre-activation of each gate from dh (d loss
 * / d h) and dc (d loss / d c from the step after), which becomes d loss / d c_{t-1}. */
static inline void NAME(lstm_row_backward)(int64_t h, const REAL *restrict in, const REAL *restrict f,
                                           const REAL *restrict o, const REAL *restrict candidate,
                                           const REAL *restrict before, const REAL *restrict tanh_memory,
                                           const REAL *restrict dh, REAL *restrict dc, REAL *restrict d_in,
                                           REAL *restrict d_f, REAL *restrict d_o, REAL *restrict d_candidate) {
    for (int64_t j = 0; j < h; j++) {
        const REAL through = dc[j] + dh[j] * o[j] * (1 - tanh_memory[j] * tanh_memory[j]);
        d_in[j] = through * candidate[j] * in[j] * (1 - in[j]);
        d_f[j] = through * before[j] * f[j] * (1 - f[j]);
        d_o[j] = dh[j] * tanh_memory[j] * o[j] * (1 - o[j]);
        d_candidate[j] = through * in[j] * (1 - candidate[j] * candidate[j]);
        dc[j] = through * f[j];
    }
}

/* grad_hidden [N, H]: d loss / d h at each row (the read-out's, at names' last rows) in;
 * rows that run on are overwritten with what flows back from the next step. grad_memory
 * [running[0], H], zeros in: d loss / d c of the names still running, in sorted order.
 * grad_pre [N, G] out: d loss / d pre-activation. An open gate's gradient goes to a scratch row. */
void NAME(lstm_backward)(int64_t positions, const int64_t *running, const int64_t *starts, int64_t h, int64_t forget,
                         int64_t output, const REAL *gates, const REAL *memories, const REAL *tanh_memories,
                         REAL *grad_hidden, REAL *grad_memory, REAL *grad_pre, const REAL *weight, int64_t input_size) {
    const int64_t blocks = 2 + forget + output, width = blocks * h, o = (1 + forget) * h, g = (blocks - 1) * h;
    REAL *ones = malloc(4 * h * sizeof(REAL)), *zeros = ones + h, *unused_f = zeros + h, *unused_o = unused_f + h;
    for (int64_t j = 0; j < h; j++)
        ones[j] = 1, zeros[j] = 0;
    for (int64_t t = positions - 1; t >= 0; t--) {
        for (int64_t r = 0; r < running[t]; r++) {
            const int64_t row = starts[t] + r;
            const REAL *gate = gates + row * width;
            REAL *pre = grad_pre + row * width;
            NAME(lstm_row_backward)(h, gate, forget ? gate + h : ones, output ? gate + o : ones, gate + g,
                                    t ? memories + (starts[t - 1] + r) * h : zeros, tanh_memories + row * h,
                                    grad_hidden + row * h, grad_memory + r * h, pre, forget ? pre + h : unused_f,
                                    output ? pre + o : unused_o, pre + g);
        }
        if (t)
            NAME(backward_product)(running[t], h, width, grad_pre + starts[t] * width,
                                   NAME(hidden_of)(weight, input_size, h), grad_hidden + starts[t - 1] * h);
    }
    free(ones);
}
