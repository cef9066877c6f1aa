// matmul: C[m,n] = (accumulate ? C : 0) + op(A)[m,k] · op(B)[k,n] + (has_bias ? bias[n] : 0)
//
// Bindings (f32, row-major, each view at an element offset into its buffer):
//   1 c    [m, n]
//   2 a    op(A)[r, kk] = a[a_off + r * a_row_stride + kk * a_col_stride]
//          (stored [m, k]: strides (k, 1); a_trans, stored [k, m]: strides (1, m))
//   3 b    op(B)[kk, j] = b[b_off + kk * b_row_stride + j * b_col_stride]
//          (stored [k, n]: strides (n, 1); b_trans, stored [n, k]: strides (1, k))
//   4 bias [n]; when there is none, `a` is bound here again and has_bias = 0.
// Grid: workgroups of 8x8 invocations, each invocation an 8x8 register block of
// C (rows 8*ly.., columns 8*lx..), so a workgroup covers a 64x64 tile;
// (ceil(n/64), row tiles, 1), with more than 65535 row tiles folded into z
// (row tile = z * num_workgroups.y + y).
//
// Why this shape: compilers that run invocations as SIMD lanes (llvmpipe) turn
// every load whose address they cannot prove uniform into a per-lane loop, and
// a storage-buffer load also pays a bounds check per lane, so loads, not FMAs,
// set the speed. The workgroup copies a KC-step chunk of its 64 rows of op(A)
// and 64 columns of op(B) into workgroup memory once (2 storage loads per
// invocation per k step), k-major so that 4 neighbouring rows or columns form
// one vec4; the inner loop then reads 4 vec4s (one per-lane loop each, no
// bounds check) for 64 FMAs. No optional feature. Rows, columns and k steps
// past the edge are clamped to the last one for reading (reads stay inside
// the views); they are never used or written. Every C element sums its k terms
// in order, like the CPU twin.

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
/// k steps staged in workgroup memory at a time.
const KC: u32 = 16u;
/// vec4s per k step of a staged tile (TILE / 4).
const QUADS: u32 = 16u;

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read_write> c: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<f32>;
@group(0) @binding(3) var<storage, read_write> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> bias: array<f32>;

/// op(A) of the tile's rows: a_tile[kc * QUADS + q] = rows 4q..4q+3 at k step k0 + kc.
var<workgroup> a_tile: array<vec4<f32>, 256>;
/// op(B) of the tile's columns: b_tile[kc * QUADS + q] = columns 4q..4q+3 at k step k0 + kc.
var<workgroup> b_tile: array<vec4<f32>, 256>;

@compute @workgroup_size(8, 8, 1)
fn matmul(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let tile_row = (wid.z * nwg.y + wid.y) * TILE;
    let tile_col = wid.x * TILE;

    // Staging: invocation li copies vec4 q = li % 16 at k steps li / 16 + 4s
    // (s = 0..3) of both tiles, edges clamped.
    let q = li % QUADS;
    let kc0 = li / QUADS;
    let quad = vec4<u32>(4u * q) + vec4<u32>(0u, 1u, 2u, 3u);
    let a_base = p.a_off + min(vec4<u32>(tile_row) + quad, vec4<u32>(p.m - 1u)) * p.a_row_stride;
    let b_base = p.b_off + min(vec4<u32>(tile_col) + quad, vec4<u32>(p.n - 1u)) * p.b_col_stride;

    // Named accumulators, not an array: a private array indexed by a loop
    // variable is spilled to memory by some compilers (llvmpipe among them).
    // acc{i}l / acc{i}r: row 8*ly + i, columns 8*lx + 0..3 / 4..7.
    var acc0l = vec4<f32>(0.0);
    var acc0r = vec4<f32>(0.0);
    var acc1l = vec4<f32>(0.0);
    var acc1r = vec4<f32>(0.0);
    var acc2l = vec4<f32>(0.0);
    var acc2r = vec4<f32>(0.0);
    var acc3l = vec4<f32>(0.0);
    var acc3r = vec4<f32>(0.0);
    var acc4l = vec4<f32>(0.0);
    var acc4r = vec4<f32>(0.0);
    var acc5l = vec4<f32>(0.0);
    var acc5r = vec4<f32>(0.0);
    var acc6l = vec4<f32>(0.0);
    var acc6r = vec4<f32>(0.0);
    var acc7l = vec4<f32>(0.0);
    var acc7r = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < p.k; k0 += KC) {
        workgroupBarrier();
        for (var s = 0u; s < KC; s += 4u) {
            let kk = min(k0 + kc0 + s, p.k - 1u);
            let ai = a_base + kk * p.a_col_stride;
            let bi = b_base + kk * p.b_row_stride;
            a_tile[(kc0 + s) * QUADS + q] = vec4<f32>(a[ai.x], a[ai.y], a[ai.z], a[ai.w]);
            b_tile[(kc0 + s) * QUADS + q] = vec4<f32>(b[bi.x], b[bi.y], b[bi.z], b[bi.w]);
        }
        workgroupBarrier();
        let steps = min(KC, p.k - k0);
        for (var kc = 0u; kc < steps; kc++) {
            let alo = a_tile[kc * QUADS + 2u * lid.y];
            let ahi = a_tile[kc * QUADS + 2u * lid.y + 1u];
            let bl = b_tile[kc * QUADS + 2u * lid.x];
            let br = b_tile[kc * QUADS + 2u * lid.x + 1u];
            acc0l += alo.x * bl;
            acc0r += alo.x * br;
            acc1l += alo.y * bl;
            acc1r += alo.y * br;
            acc2l += alo.z * bl;
            acc2r += alo.z * br;
            acc3l += alo.w * bl;
            acc3r += alo.w * br;
            acc4l += ahi.x * bl;
            acc4r += ahi.x * br;
            acc5l += ahi.y * bl;
            acc5r += ahi.y * br;
            acc6l += ahi.z * bl;
            acc6r += ahi.z * br;
            acc7l += ahi.w * bl;
            acc7r += ahi.w * br;
        }
    }

    let row0 = tile_row + 8u * lid.y;
    let col0 = tile_col + 8u * lid.x;
    store_row(row0 + 0u, col0, acc0l, acc0r);
    store_row(row0 + 1u, col0, acc1l, acc1r);
    store_row(row0 + 2u, col0, acc2l, acc2r);
    store_row(row0 + 3u, col0, acc3l, acc3r);
    store_row(row0 + 4u, col0, acc4l, acc4r);
    store_row(row0 + 5u, col0, acc5l, acc5r);
    store_row(row0 + 6u, col0, acc6l, acc6r);
    store_row(row0 + 7u, col0, acc7l, acc7r);
}

/// Writes one row of the 8x8 block: C = (accumulate ? C : 0) + sum + bias, inside the edges only.
fn store_row(row: u32, col0: u32, left: vec4<f32>, right: vec4<f32>) {
    if row >= p.m {
        return;
    }
    store(row, col0, left.x);
    store(row, col0 + 1u, left.y);
    store(row, col0 + 2u, left.z);
    store(row, col0 + 3u, left.w);
    store(row, col0 + 4u, right.x);
    store(row, col0 + 5u, right.y);
    store(row, col0 + 6u, right.z);
    store(row, col0 + 7u, right.w);
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
