// matmul: C[m,n] = (accumulate ? C : 0) + op(A)[m,k] · op(B)[k,n] + (has_bias ? bias[n] : 0)
//
// A thin includer of the matmul tile core: the core (matmul_tile.wgsl, the
// portable one, or on CPU adapters with 8-lane subgroups
// matmul_tile_subgroup.wgsl, or matmul_tile_vec4.wgsl where the views sit in
// aligned quads) is appended to this file and computes each workgroup's tile;
// this file says where op(A), op(B) live and what happens to the finished sums.
//
// Bindings (f32, row-major, each view at an element offset into its buffer):
//   0 p    MatmulParams (uniform)
//   1 c    [m, n]
//   2 a    op(A)[r, kk] = a[a_off + r * a_row_stride + kk * a_col_stride]
//          (stored [m, k]: strides (k, 1); a_trans, stored [k, m]: strides (1, m))
//   3 b    op(B)[kk, j] = b[b_off + kk * b_row_stride + j * b_col_stride]
//          (stored [k, n]: strides (n, 1); b_trans, stored [n, k]: strides (1, k))
//   4 bias [n]; when there is none, `a` is bound here again and has_bias = 0.
// Grid: the core's (ceil(n / MM_TILE_N), row tiles, z) workgroups of
// MM_WG_X x MM_WG_Y invocations, more than 65535 row tiles folded into z
// (row tile = z * num_workgroups.y + y).

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

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read_write> c: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<MmWord>;
@group(0) @binding(3) var<storage, read_write> b: array<MmWord>;
@group(0) @binding(4) var<storage, read_write> bias: array<f32>;

@compute @workgroup_size(MM_WG_X, MM_WG_Y, 1)
fn matmul(inv: MmInvocation) {
    mm_run(inv);
}

/// Element index of op(A)[row, 0].
fn mm_a_row(row: u32) -> u32 {
    return p.a_off + row * p.a_row_stride;
}

/// Element index of op(B)[0, col].
fn mm_b_col(col: u32) -> u32 {
    return p.b_off + col * p.b_col_stride;
}

/// C[row, col0..col0+3] = (accumulate ? C : 0) + sums + bias, inside the edges only.
fn mm_epilogue(row: u32, col0: u32, sums: vec4<f32>) {
    if row >= p.m {
        return;
    }
    store(row, col0, sums.x);
    store(row, col0 + 1u, sums.y);
    store(row, col0 + 2u, sums.z);
    store(row, col0 + 3u, sums.w);
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
