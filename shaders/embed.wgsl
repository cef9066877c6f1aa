// embed_forward:  out[r, j] = weight[j, tokens[r]] + bias[j]
//   (the input projection W_ih · onehot(token) + b_ih as a gather)
// embed_backward: dweight[j, tokens[r]] += dout[r, j], r = 0, 1, ... in order
//   (its gradient as a scatter-add; adds into dweight)
//
// Bindings (row-major, each view at an element offset into its buffer):
//   embed_forward:  1 out [n, g] f32, 2 weight [g, vocab] f32, 3 bias [g] f32, 4 tokens [n] u32
//   embed_backward: 1 dweight [g, vocab] f32, 2 dout [n, g] f32, 3 tokens [n] u32
// Token ids were checked against vocab before they reached the GPU.
// Grid: embed_forward, one invocation per output element (n * g);
//       embed_backward, one invocation per row j of dweight (g), each looping
//       over the n token rows in order, so repeated tokens add up in the same
//       order as on the CPU and no atomics are needed (deterministic).
// Both 1D over ceil(count / WG_1D) workgroups (folded into (x, y), see linear_index).

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
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
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
    let i = linear_index(wid, lid, nwg);
    if i >= fwd.rows * fwd.width {
        return;
    }
    let r = i / fwd.width;
    let j = i % fwd.width;
    let token = fwd_tokens[fwd.tokens_off + r];
    out[fwd.out_off + i] = weight[fwd.weight_off + j * fwd.vocab + token] + bias[fwd.bias_off + j];
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
