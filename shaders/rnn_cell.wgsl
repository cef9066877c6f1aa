// rnn_cell_forward:  h = act(pre), elementwise (rnn_activate in cell_math.wgsl)
// rnn_cell_backward: dpre = dh ⊙ act'(h), elementwise, with act' written
//   through the output (rnn_slope).
// act: activation 0 = tanh, 1 = relu.
//
// Bindings (f32, each view at an element offset into its buffer):
//   rnn_cell_forward:  1 h [len], 2 pre [len]
//   rnn_cell_backward: 1 dpre [len], 2 dh [len], 3 h [len]
// Grid: one invocation per element, 1D over ceil(len / WG_1D) workgroups
// (folded into (x, y), see linear_index).

struct RnnCellForwardParams {
    h_off: u32,
    pre_off: u32,
    len: u32,
    activation: u32,
}

struct RnnCellBackwardParams {
    dpre_off: u32,
    dh_off: u32,
    h_off: u32,
    len: u32,
    activation: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> fwd: RnnCellForwardParams;
@group(0) @binding(1) var<storage, read_write> h_out: array<f32>;
@group(0) @binding(2) var<storage, read_write> pre: array<f32>;

@group(0) @binding(0) var<uniform> bwd: RnnCellBackwardParams;
@group(0) @binding(1) var<storage, read_write> dpre: array<f32>;
@group(0) @binding(2) var<storage, read_write> dh: array<f32>;
@group(0) @binding(3) var<storage, read_write> h_in: array<f32>;

@compute @workgroup_size(WG_1D)
fn rnn_cell_forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = linear_index(wid, lid, nwg);
    if i >= fwd.len {
        return;
    }
    h_out[fwd.h_off + i] = rnn_activate(pre[fwd.pre_off + i], fwd.activation);
}

@compute @workgroup_size(WG_1D)
fn rnn_cell_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = linear_index(wid, lid, nwg);
    if i >= bwd.len {
        return;
    }
    dpre[bwd.dpre_off + i] = dh[bwd.dh_off + i] * rnn_slope(h_in[bwd.h_off + i], bwd.activation);
}
