// embed_forward:  out[r, j] = weight[j, tokens[r]] + bias[j]
//   (the input projection W_ih · onehot(token) + b_ih as a gather)
// embed_backward: dweight[j, tokens[r]] += dout[r, j], r = 0, 1, ... in order
//   (its gradient as a scatter-add; adds into dweight)
//
// Bindings (row-major, each view at an element offset into its buffer):
//   embed_forward:  1 out [n, g] f32 written in words of WORD elements (the
//                   source starts with word_f32.wgsl, or word_vec4.wgsl where
//                   out's offset and g are multiples of 4), 2 weight [g, vocab]
//                   f32, 3 bias [g] f32, 4 tokens [n] u32
//   embed_backward: 1 dweight [g, vocab] f32, 2 dout [n, g] f32, 3 tokens [n] u32
// Token ids were checked against vocab before they reached the GPU.
// Grid: embed_forward, one invocation per word of a row and block of
//       EMBED_ROWS rows ((g / WORD) · ceil(n / EMBED_ROWS)): the bias word is
//       read once per block, and a row costs one token read and one word
//       write (the weight column is strided by vocab, so it is read element
//       by element);
//       embed_backward, one invocation per row j of dweight (g), each looping
//       over the n token rows in order, so repeated tokens add up in the same
//       order as on the CPU and no atomics are needed (deterministic).
// Both 1D over ceil(count / WG_1D) workgroups (folded into (x, y), see linear_index).

/// Rows per invocation of embed_forward (plan::EMBED_ROWS in Rust).
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
    tokens_off: u32,
    rows: u32,
    width: u32,
    vocab: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> fwd: EmbedForwardParams;
@group(0) @binding(1) var<storage, read_write> out: array<Word>;
@group(0) @binding(2) var<storage, read_write> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> fwd_tokens: array<u32>;

@group(0) @binding(0) var<uniform> bwd: EmbedBackwardParams;
@group(0) @binding(1) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(2) var<storage, read_write> dout: array<f32>;
@group(0) @binding(3) var<storage, read_write> bwd_tokens: array<u32>;

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
    let j = linear_index(wid, lid, nwg);
    if j >= bwd.width {
        return;
    }
    let row = bwd.dweight_off + j * bwd.vocab;
    for (var r = 0u; r < bwd.rows; r++) {
        let token = bwd_tokens[bwd.tokens_off + r];
        dweight[row + token] += dout[bwd.dout_off + r * bwd.width + j];
    }
}
