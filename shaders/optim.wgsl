// Optimizer steps, one invocation per parameter, on the clipped gradient
// g = stats[1] · grads[i] (stats = [‖g‖, clip scale] from grad_norm_finish):
//   sgd_momentum: velocity = momentum · velocity + g;  params -= lr · velocity
//   adagrad:      sum_sq += g²;  params -= lr · g / (√sum_sq + eps)
//   adam:         m = β₁ m + (1 - β₁) g;  v = β₂ v + (1 - β₂) g²;
//                 params -= lr / (1 - β₁ᵗ) · m / (√v / √(1 - β₂ᵗ) + eps)
//                 (torch.optim.Adam)
// hyper = [lr, 1 - β₁ᵗ, 1 - β₂ᵗ, 0] lives in a buffer so the step count and
// learning rate change without touching the uniform. When stats[0] or stats[1]
// is not finite, every invocation returns before writing: the step is skipped
// and parameters and optimizer state stay as they were.
//
// Bindings (f32, each view at an element offset into its buffer):
//   sgd_momentum: 1 params [len], 2 velocity [len], 3 grads [len], 4 stats [2], 5 hyper [4]
//   adagrad:      1 params [len], 2 sum_sq [len],   3 grads [len], 4 stats [2], 5 hyper [4]
//   adam:         1 params [len], 2 m [len], 3 v [len], 4 grads [len], 5 stats [2], 6 hyper [4]
// Grid: one invocation per parameter, 1D over ceil(len / WG_1D) workgroups
// (folded into (x, y), see linear_index).

struct SgdMomentumParams {
    params_off: u32,
    velocity_off: u32,
    grads_off: u32,
    stats_off: u32,
    hyper_off: u32,
    len: u32,
    momentum: f32,
    _pad: u32,
}

struct AdagradParams {
    params_off: u32,
    sum_sq_off: u32,
    grads_off: u32,
    stats_off: u32,
    hyper_off: u32,
    len: u32,
    eps: f32,
    _pad: u32,
}

struct AdamParams {
    params_off: u32,
    m_off: u32,
    v_off: u32,
    grads_off: u32,
    stats_off: u32,
    hyper_off: u32,
    len: u32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> sgd_p: SgdMomentumParams;
@group(0) @binding(0) var<uniform> adagrad_p: AdagradParams;
@group(0) @binding(0) var<uniform> adam_p: AdamParams;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
// SGD's velocity, Adagrad's sum_sq, Adam's m.
@group(0) @binding(2) var<storage, read_write> state: array<f32>;
// SGD and Adagrad read grads, stats, hyper at 3, 4, 5.
@group(0) @binding(3) var<storage, read_write> grads: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> hyper: array<f32>;
// Adam reads v, grads, stats, hyper at 3, 4, 5, 6.
@group(0) @binding(3) var<storage, read_write> adam_v: array<f32>;
@group(0) @binding(4) var<storage, read_write> adam_grads: array<f32>;
@group(0) @binding(5) var<storage, read_write> adam_stats: array<f32>;
@group(0) @binding(6) var<storage, read_write> adam_hyper: array<f32>;

@compute @workgroup_size(WG_1D)
fn sgd_momentum(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = linear_index(wid, lid, nwg);
    let norm = stats[sgd_p.stats_off];
    let clip = stats[sgd_p.stats_off + 1u];
    if i >= sgd_p.len || !is_finite(norm) || !is_finite(clip) {
        return;
    }
    let lr = hyper[sgd_p.hyper_off];
    let v = sgd_p.momentum * state[sgd_p.velocity_off + i] + clip * grads[sgd_p.grads_off + i];
    state[sgd_p.velocity_off + i] = v;
    params[sgd_p.params_off + i] -= lr * v;
}

@compute @workgroup_size(WG_1D)
fn adagrad(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = linear_index(wid, lid, nwg);
    let norm = stats[adagrad_p.stats_off];
    let clip = stats[adagrad_p.stats_off + 1u];
    if i >= adagrad_p.len || !is_finite(norm) || !is_finite(clip) {
        return;
    }
    let lr = hyper[adagrad_p.hyper_off];
    let g = clip * grads[adagrad_p.grads_off + i];
    let s = state[adagrad_p.sum_sq_off + i] + g * g;
    state[adagrad_p.sum_sq_off + i] = s;
    params[adagrad_p.params_off + i] -= lr * g / (sqrt(s) + adagrad_p.eps);
}

@compute @workgroup_size(WG_1D)
fn adam(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = linear_index(wid, lid, nwg);
    let norm = adam_stats[adam_p.stats_off];
    let clip = adam_stats[adam_p.stats_off + 1u];
    if i >= adam_p.len || !is_finite(norm) || !is_finite(clip) {
        return;
    }
    let step_size = adam_hyper[adam_p.hyper_off] / adam_hyper[adam_p.hyper_off + 1u];
    let bias_correction2_sqrt = sqrt(adam_hyper[adam_p.hyper_off + 2u]);
    let g = clip * adam_grads[adam_p.grads_off + i];
    let m = adam_p.beta1 * state[adam_p.m_off + i] + (1.0 - adam_p.beta1) * g;
    let v = adam_p.beta2 * adam_v[adam_p.v_off + i] + (1.0 - adam_p.beta2) * g * g;
    state[adam_p.m_off + i] = m;
    adam_v[adam_p.v_off + i] = v;
    params[adam_p.params_off + i] -= step_size * m / (sqrt(v) / bias_correction2_sqrt + adam_p.eps);
}
