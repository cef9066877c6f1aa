// dropout:          out = x ⊙ keep / (1 - p)      (inverted dropout)
// dropout_backward: dx := dx ⊙ keep / (1 - p) in place
// where keep[i] is counter-based, recomputed from (i, seed, salt) and never stored:
//   key = lowbias32(seed ^ lowbias32(salt)),
//   u   = (lowbias32(lowbias32(i) ^ key) >> 8) / 2²⁴   (24 bits: exact in f32),
//   keep[i] = u >= p,
// with i the element index inside the view and seed = seed[seed_off]. The CPU
// twin (cpu::kernels::dropout_keep) draws the same bits, so both backends drop
// the same elements.
//
// Bindings (each view at an element offset into its buffer):
//   dropout:          1 out [len] f32, 2 x [len] f32, 3 seed [1] u32
//   dropout_backward: 1 dx [len] f32,  2 seed [1] u32
// Grid: one invocation per element, 1D over ceil(len / WG_1D) workgroups
// (folded into (x, y), see linear_index).

struct DropoutParams {
    out_off: u32,
    x_off: u32,
    seed_off: u32,
    len: u32,
    salt: u32,
    /// Drop probability, in (0, 1).
    p: f32,
    /// 1 / (1 - p), computed once on the host so every backend scales by the same f32.
    scale: f32,
    _pad0: u32,
}

struct DropoutBackwardParams {
    dx_off: u32,
    seed_off: u32,
    len: u32,
    salt: u32,
    p: f32,
    scale: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> fwd: DropoutParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> fwd_seed: array<u32>;

@group(0) @binding(0) var<uniform> bwd: DropoutBackwardParams;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<storage, read_write> bwd_seed: array<u32>;

fn dropout_keep(i: u32, seed: u32, salt: u32, p: f32) -> bool {
    let key = lowbias32(seed ^ lowbias32(salt));
    let u = f32(lowbias32(lowbias32(i) ^ key) >> 8u) * (1.0 / 16777216.0);
    return u >= p;
}

@compute @workgroup_size(WG_1D)
fn dropout(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = linear_index(wid, lid, nwg);
    if i >= fwd.len {
        return;
    }
    let keep = dropout_keep(i, fwd_seed[fwd.seed_off], fwd.salt, fwd.p);
    let scale = fwd.scale;
    out[fwd.out_off + i] = select(0.0, x[fwd.x_off + i] * scale, keep);
}

@compute @workgroup_size(WG_1D)
fn dropout_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = linear_index(wid, lid, nwg);
    if i >= bwd.len {
        return;
    }
    let keep = dropout_keep(i, bwd_seed[bwd.seed_off], bwd.salt, bwd.p);
    let scale = bwd.scale;
    dx[bwd.dx_off + i] = select(0.0, dx[bwd.dx_off + i] * scale, keep);
}
