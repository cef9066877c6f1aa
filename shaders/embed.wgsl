// embed_forward:  out[r, j] = weight[j, tokens[r]] + bias[j]
//   (the input projection W_ih · onehot(token) + b_ih as a gather)
// embed_backward: dweight[j, v] += Σ dout[r, j] over the rows r holding token v,
//   in row order (its gradient as a scatter-add; adds into dweight)
//
// Bindings (row-major, each view at an element offset into its buffer). The
// big per-row view (out; dout) is accessed in words of WORD elements: the
// source starts with word_f32.wgsl, or word_vec4.wgsl where that view's
// offset and g are multiples of 4.
//   embed_forward:  1 out [n, g] f32, 2 weight [g, vocab] f32, 3 bias [g] f32,
//                   4 tokens [n] u32
//   embed_backward: 1 dweight [g, vocab] f32, 2 dout [n, g] f32, 3 buckets
//                   [vocab + 1 + n] u32: the rows grouped by token
//                   (plan::token_buckets; token v's rows are
//                   buckets[vocab + 1 + k] for k in buckets[v] .. buckets[v + 1])
// Token ids were checked against vocab before they reached the GPU.
// Grid: embed_forward, one invocation per word of a row and block of
//       EMBED_ROWS rows ((g / WORD) · ceil(n / EMBED_ROWS)): the bias word is
//       read once per block, and a row costs one token read and one word
//       write (the weight column is strided by vocab, so it is read element
//       by element);
//       embed_backward, one invocation per token and word of a row
//       (vocab · g / WORD), each adding that token's rows in row order to a
//       sum that starts from dweight: the same additions in the same order
//       as the CPU's scatter-add, so the same bits, with no atomics, and
//       vocab · g / WORD invocations rather than one per row of dweight,
//       each walking all n tokens.
// Both 1D over ceil(count / WG_1D) workgroups (folded into (x, y), see linear_index).

/// Rows per invocation of embed_forward (kernels::EMBED_ROWS in Rust).
const EMBED_ROWS: u32 = 16u;

struct EmbedForwardParams {
    out_off: u32,
    weight_off: u32,
    bias_off: u32,
    tokens_off: u32,
    /// n, the number of tokens.
    rows: u32,
    /// g, the width of an output row.
    width: u32,
    vocab: u32,
    _pad: u32,
}

struct EmbedBackwardParams {
    dweight_off: u32,
    dout_off: u32,
    buckets_off: u32,
    /// g, the width of a dout row.
    width: u32,
    vocab: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> fwd: EmbedForwardParams;
@group(0) @binding(1) var<storage, read_write> out: array<Word>;
@group(0) @binding(2) var<storage, read_write> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> fwd_tokens: array<u32>;

@group(0) @binding(0) var<uniform> bwd: EmbedBackwardParams;
@group(0) @binding(1) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(2) var<storage, read_write> dout: array<Word>;
@group(0) @binding(3) var<storage, read_write> bwd_buckets: array<u32>;

@compute @workgroup_size(WG_1D)
fn embed_forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let words = fwd.width / WORD;
    let i = linear_index(wid, lid, nwg);
    let first_row = i / words * EMBED_ROWS;
    if first_row >= fwd.rows {
        return;
    }
    let word = i % words;
    let j0 = word * WORD;
    var bias_word = Word(0.0);
    for (var e = 0u; e < WORD; e++) {
        bias_word = word_with(bias_word, e, bias[fwd.bias_off + j0 + e]);
    }
    let last_row = min(first_row + EMBED_ROWS, fwd.rows);
    for (var r = first_row; r < last_row; r++) {
        let column = fwd.weight_off + j0 * fwd.vocab + fwd_tokens[fwd.tokens_off + r];
        var value = bias_word;
        for (var e = 0u; e < WORD; e++) {
            value = word_with(value, e, word_elem(value, e) + weight[column + e * fwd.vocab]);
        }
        out[(fwd.out_off + r * fwd.width) / WORD + word] = value;
    }
}

@compute @workgroup_size(WG_1D)
fn embed_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let words = bwd.width / WORD;
    let i = linear_index(wid, lid, nwg);
    let token = i / words;
    if token >= bwd.vocab {
        return;
    }
    let first = bwd_buckets[bwd.buckets_off + token];
    let end = bwd_buckets[bwd.buckets_off + token + 1u];
    if first == end {
        return;
    }
    let word = i % words;
    let j0 = word * WORD;
    // dweight's column `token` for j0 .. j0 + WORD, plus that token's rows in order.
    var sum = Word(0.0);
    for (var e = 0u; e < WORD; e++) {
        sum = word_with(sum, e, dweight[bwd.dweight_off + (j0 + e) * bwd.vocab + token]);
    }
    let rows_at = bwd.buckets_off + bwd.vocab + 1u;
    for (var k = first; k < end; k++) {
        let r = bwd_buckets[rows_at + k];
        sum += dout[(bwd.dout_off + r * bwd.width) / WORD + word];
    }
    for (var e = 0u; e < WORD; e++) {
        dweight[bwd.dweight_off + (j0 + e) * bwd.vocab + token] = word_elem(sum, e);
    }
}
