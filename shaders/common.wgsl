// common: the prelude prepended to every kernel source (never compiled alone).
//
// - WG_1D: invocations per workgroup of every 1D kernel.
// - workgroup_index / linear_index: a 1D grid of more than 65535 workgroups is
//   dispatched as (x, y, 1) with x <= 65535; workgroups are numbered row by row,
//   so invocation i of workgroup w has index w * WG_1D + i. Kernels compare the
//   index against their length, since the last row of the grid may overhang.
// - safe_tanh: tanh(x) for |x| > 15 is 1 - 2e-13, i.e. exactly ±1 in f32, and
//   WGSL's tanh may return NaN for |x| > ~88, so the argument is clamped.
// - sigmoid: σ(x) without overflow, exp is only taken of a non-positive
//   number: 1 / (1 + e^{-x}) for x >= 0, e^{x} / (1 + e^{x}) for x < 0
//   (the CPU twin is cpu::kernels::sigmoid).
// - lowbias32: Chris Wellons' integer hash, bit-identical to
//   cpu::kernels::lowbias32 (WGSL's u32 multiply wraps, like wrapping_mul).
// - is_finite: NaN and ±inf are exactly the floats whose exponent bits are all
//   ones; tested on the bits because `x == x` may be folded away by compilers
//   that assume finite floats.

const WG_1D: u32 = 256u;

fn workgroup_index(workgroup_id: vec3<u32>, num_workgroups: vec3<u32>) -> u32 {
    return workgroup_id.y * num_workgroups.x + workgroup_id.x;
}

fn linear_index(workgroup_id: vec3<u32>, local_index: u32, num_workgroups: vec3<u32>) -> u32 {
    return workgroup_index(workgroup_id, num_workgroups) * WG_1D + local_index;
}

fn safe_tanh(x: f32) -> f32 {
    return tanh(clamp(x, -15.0, 15.0));
}

fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        return 1.0 / (1.0 + exp(-x));
    }
    let e = exp(x);
    return e / (1.0 + e);
}

fn lowbias32(v: u32) -> u32 {
    var x = v;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    x ^= x >> 16u;
    return x;
}

fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}
