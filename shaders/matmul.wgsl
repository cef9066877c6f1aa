// matmul: C[m,n] = (accumulate ? C : 0) + op(A)[m,k] · op(B)[k,n] + (has_bias ? bias[n] : 0)
// The portable kernel: no optional feature. The tile loop and register block
// are in matmul_tile.wgsl (appended to this file); matmul_subgroup.wgsl is the
// same kernel with subgroup broadcasts, used when the adapter offers them.
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
// Per k step each invocation reads 4 vec4s of workgroup memory (its 8 rows of
// op(A), its 8 columns of op(B)) for 64 FMAs; see matmul_tile.wgsl for why.

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read_write> c: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<f32>;
@group(0) @binding(3) var<storage, read_write> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> bias: array<f32>;

@compute @workgroup_size(8, 8, 1)
fn matmul(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let tile_row = (wid.z * nwg.y + wid.y) * TILE;
    let tile_col = wid.x * TILE;
    let bases = tile_bases(tile_row, tile_col, li);
    var acc: Block;
    for (var k0 = 0u; k0 < p.k; k0 += KC) {
        workgroupBarrier();
        stage_tiles(k0, li, bases);
        workgroupBarrier();
        chunk_from_tiles(&acc, lid.x, lid.y);
    }
    finish_block(&acc, tile_row + 8u * lid.y, tile_col + 8u * lid.x);
}

/// One row of a block: C = (accumulate ? C : 0) + sum + bias, inside the edges only.
fn matmul_epilogue_row(row: u32, col0: u32, left: vec4<f32>, right: vec4<f32>) {
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
