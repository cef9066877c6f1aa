// fill: dst[i] = value.
// copy: dst[i] = src[i].
//
// Bindings (f32, each view at an element offset into its bound buffer):
//   fill: 1 dst [len]
//   copy: 1 dst [len], 2 src [len]
// Grid: one invocation per element, 1D over ceil(len / WG_1D) workgroups
// (folded into (x, y) beyond 65535, see linear_index).

struct FillParams {
    dst_off: u32,
    len: u32,
    value: f32,
    _pad: u32,
}

struct CopyParams {
    dst_off: u32,
    src_off: u32,
    len: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> fill_p: FillParams;
@group(0) @binding(0) var<uniform> copy_p: CopyParams;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read_write> src: array<f32>;

@compute @workgroup_size(WG_1D)
fn fill(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = linear_index(wid, lid, nwg);
    if i < fill_p.len {
        dst[fill_p.dst_off + i] = fill_p.value;
    }
}

@compute @workgroup_size(WG_1D)
fn copy(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = linear_index(wid, lid, nwg);
    if i < copy_p.len {
        dst[copy_p.dst_off + i] = src[copy_p.src_off + i];
    }
}
