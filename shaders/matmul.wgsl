// matmul: C[m,n] = (accumulate ? C : 0) + op(A)[m,k] · op(B)[k,n] + (has_bias ? bias[n] : 0)
//
// Bindings (f32, row-major, each view at an element offset into its buffer):
//   1 c    [m, n]
//   2 a    op(A)[r, kk] = a[a_off + r * a_row_stride + kk * a_col_stride]
//          (stored [m, k]: strides (k, 1); a_trans, stored [k, m]: strides (1, m))
//   3 b    op(B)[kk, j] = b[b_off + kk * b_row_stride + j * b_col_stride]
//          (stored [k, n]: strides (n, 1); b_trans, stored [n, k]: strides (1, k))
//   4 bias [n]; when there is none, `a` is bound here again and has_bias = 0.
// Grid: workgroups of 16x16 invocations, each invocation a 4x4 register block of
// C, so a workgroup covers a 64x64 tile; (ceil(n/64), row tiles, 1), with more
// than 65535 row tiles folded into z (row tile = z * num_workgroups.y + y).
//
// The 4x4 block is strided, rows row0 + 16i and columns col0 + 16j: neighbouring
// invocations touch neighbouring columns of B and C, so loads and stores are
// contiguous across a row of the workgroup. No workgroup memory and no optional
// feature: every load comes from a register-blocked loop (portable, and the
// fastest shape measured on lavapipe). Rows or columns past the edge are clamped
// to the last one for reading (reads stay inside the views) and never written.

struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    accumulate: u32,
    c_off: u32,
    a_off: u32,
    b_off: u32,
    bias_off: u32,
    a_row_stride: u32,
    a_col_stride: u32,
    b_row_stride: u32,
    b_col_stride: u32,
    has_bias: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

/// Rows and columns of C per workgroup.
const TILE: u32 = 64u;
/// Invocations along each side of a workgroup; each owns TILE / SIDE = 4 rows and columns.
const SIDE: u32 = 16u;

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read_write> c: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<f32>;
@group(0) @binding(3) var<storage, read_write> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> bias: array<f32>;

@compute @workgroup_size(16, 16, 1)
fn matmul(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let block = vec4<u32>(0u, SIDE, 2u * SIDE, 3u * SIDE);
    let rows = vec4<u32>((wid.z * nwg.y + wid.y) * TILE + lid.y) + block;
    let cols = vec4<u32>(wid.x * TILE + lid.x) + block;

    // Element indices of op(A)[rows, 0] and op(B)[0, cols], edges clamped.
    var a_idx = p.a_off + min(rows, vec4<u32>(p.m - 1u)) * p.a_row_stride;
    var b_idx = p.b_off + min(cols, vec4<u32>(p.n - 1u)) * p.b_col_stride;

    // Four named accumulators, not an array: a private array indexed by a
    // loop variable is spilled to memory by some compilers (llvmpipe among
    // them), which costs more than the arithmetic.
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var kk = 0u; kk < p.k; kk++) {
        let av = vec4<f32>(a[a_idx.x], a[a_idx.y], a[a_idx.z], a[a_idx.w]);
        let bv = vec4<f32>(b[b_idx.x], b[b_idx.y], b[b_idx.z], b[b_idx.w]);
        acc0 += av.x * bv;
        acc1 += av.y * bv;
        acc2 += av.z * bv;
        acc3 += av.w * bv;
        a_idx += p.a_col_stride;
        b_idx += p.b_row_stride;
    }
    store_row(rows.x, cols, acc0);
    store_row(rows.y, cols, acc1);
    store_row(rows.z, cols, acc2);
    store_row(rows.w, cols, acc3);
}

/// Writes one row of the 4x4 block: C = (accumulate ? C : 0) + sum + bias, inside the edges only.
fn store_row(row: u32, cols: vec4<u32>, sum: vec4<f32>) {
    if row >= p.m {
        return;
    }
    store(row, cols.x, sum.x);
    store(row, cols.y, sum.y);
    store(row, cols.z, sum.z);
    store(row, cols.w, sum.w);
}

fn store(row: u32, col: u32, sum: f32) {
    if col >= p.n {
        return;
    }
    let at = p.c_off + row * p.n + col;
    var value = sum;
    if p.accumulate != 0u {
        value += c[at];
    }
    if p.has_bias != 0u {
        value += bias[p.bias_off + col];
    }
    c[at] = value;
}
