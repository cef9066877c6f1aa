// fill: dst[i] = value.
// copy: dst[i] = src[i].
// row_gather: see below.
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

// row_gather: out[r, :] = (accumulate ? out[r, :] : 0) + x[index[r], :] for
// rows of `width` (final states at each stream's length, reversed sequences,
// the two directions' concatenation). Every index is below x's rows: the host
// builds them from validated lengths.
//   Bindings: 1 out [rows, width] f32, 2 x [.., width] f32, 3 index [rows] u32
//   Grid: one invocation per element of out, 1D.

struct RowGatherParams {
    out_off: u32,
    x_off: u32,
    index_off: u32,
    len: u32,
    width: u32,
    accumulate: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> gather_p: RowGatherParams;
@group(0) @binding(3) var<storage, read_write> gather_index: array<u32>;

@compute @workgroup_size(WG_1D)
fn row_gather(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = linear_index(wid, lid, nwg);
    if i < gather_p.len {
        let r = i / gather_p.width;
        let source = gather_index[gather_p.index_off + r] * gather_p.width + i % gather_p.width;
        var value = src[gather_p.x_off + source];
        if gather_p.accumulate != 0u {
            value += dst[gather_p.out_off + i];
        }
        dst[gather_p.out_off + i] = value;
    }
}
