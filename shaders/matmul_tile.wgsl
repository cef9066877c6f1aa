// matmul_tile: the tile loop and 8x8 register block shared by every kernel
// built on the matmul core (never compiled alone). A kernel source is
//   <the including kernel> + <a core: matmul_core.wgsl or matmul_core_subgroup.wgsl> + matmul_tile.wgsl.
//
// The contract with the including kernel. It declares
//   - a uniform `p` whose struct has at least the u32 fields m, n, k,
//     a_col_stride, b_row_stride (C is [m, n], the sum runs over k);
//   - storage arrays `a` and `b` (array<f32>), which the core only reads;
//   - fn mm_a_row(row: u32) -> u32: the element index of op(A)[row, 0], row < m;
//     op(A)[row, kk] = a[mm_a_row(row) + kk * p.a_col_stride];
//   - fn mm_b_col(col: u32) -> u32: the element index of op(B)[0, col], col < n;
//     op(B)[kk, col] = b[mm_b_col(col) + kk * p.b_row_stride] (columns may map
//     anywhere: the fused LSTM step interleaves the gate rows of W_hh);
//   - fn mm_epilogue(row: u32, col0: u32, sums: vec4<f32>): the finished sums of
//     row `row`, columns col0..col0+3 (col0 % 4 == 0, all four from one
//     invocation); called for every quad of the invocation's block, also past
//     the edges (row >= m or a column >= n), which the epilogue skips.
// and its entry points read
//   @compute @workgroup_size(MM_WG_X, MM_WG_Y, 1) fn kernel(inv: MmInvocation) { mm_run(inv); }
// on a grid of (ceil(n / MM_TILE_N), row tiles, z) workgroups, row tiles past
// 65535 folded into z (row tile = z * num_workgroups.y + y). The core defines
// MmInvocation (the builtins it needs) and mm_run.
//
// A workgroup of 64 invocations computes a TILE x TILE tile of C; invocation
// (lx, ly) in 0..8 x 0..8 owns the 8x8 block at rows 8*ly.., columns 8*lx.. of
// the tile. Per KC-step chunk of k, `stage_tiles` copies the tile's rows of
// op(A) and columns of op(B) into workgroup memory k-major (2 storage loads
// per invocation per k step), so four neighbouring rows or columns form one
// vec4; the inner step then needs 4 vec4 workgroup loads for 64 FMAs
// (`outer`). Steps past k are staged as zeros, so a chunk may always run all
// KC steps; rows and columns past the edges are clamped for reading (reads
// stay inside the views) and never written. Every C element sums its k terms
// in order, like the CPU twin.
//
// Why this shape on llvmpipe: it runs invocations as SIMD lanes and turns
// every load whose address it cannot prove uniform into a per-lane loop (a
// storage load also pays a bounds check per lane), so the number of loads, not
// FMAs, sets the speed; the accumulators live in memory either way (the
// barriers make the kernel a coroutine), so a larger block per invocation
// buys little. Named accumulators in a struct, not an array: a private array
// indexed by a loop variable is spilled by some compilers.

/// Rows and columns of C per workgroup.
const TILE: u32 = 64u;
const MM_TILE_M: u32 = TILE;
const MM_TILE_N: u32 = TILE;
/// Invocations per workgroup, one-dimensional (subgroup builtins require it);
/// the cores number them (lx, ly) in 0..8 x 0..8.
const MM_WG_X: u32 = 64u;
const MM_WG_Y: u32 = 1u;
/// k steps staged in workgroup memory at a time.
const KC: u32 = 16u;
/// vec4s per k step of a staged tile (TILE / 4).
const QUADS: u32 = 16u;

/// op(A) of the tile's rows: a_tile[kc * QUADS + q] = rows 4q..4q+3 at k step k0 + kc.
var<workgroup> a_tile: array<vec4<f32>, 256>;
/// op(B) of the tile's columns: b_tile[kc * QUADS + q] = columns 4q..4q+3 at k step k0 + kc.
var<workgroup> b_tile: array<vec4<f32>, 256>;

/// One invocation's 8x8 block: r{i}l / r{i}r = row 8*ly + i, columns 8*lx + 0..3 / 4..7.
struct Block {
    r0l: vec4<f32>,
    r0r: vec4<f32>,
    r1l: vec4<f32>,
    r1r: vec4<f32>,
    r2l: vec4<f32>,
    r2r: vec4<f32>,
    r3l: vec4<f32>,
    r3r: vec4<f32>,
    r4l: vec4<f32>,
    r4r: vec4<f32>,
    r5l: vec4<f32>,
    r5r: vec4<f32>,
    r6l: vec4<f32>,
    r6r: vec4<f32>,
    r7l: vec4<f32>,
    r7r: vec4<f32>,
}

/// Where a tile's staging reads start: element offsets of rows tile_row + quad
/// of op(A) and columns tile_col + quad of op(B), edges clamped (through the
/// including kernel's mm_a_row / mm_b_col).
struct TileBases {
    a: vec4<u32>,
    b: vec4<u32>,
}

fn tile_bases(tile_row: u32, tile_col: u32, li: u32) -> TileBases {
    let quad = vec4<u32>(4u * (li % QUADS)) + vec4<u32>(0u, 1u, 2u, 3u);
    let rows = min(vec4<u32>(tile_row) + quad, vec4<u32>(p.m - 1u));
    let cols = min(vec4<u32>(tile_col) + quad, vec4<u32>(p.n - 1u));
    let a_base = vec4<u32>(mm_a_row(rows.x), mm_a_row(rows.y), mm_a_row(rows.z), mm_a_row(rows.w));
    let b_base = vec4<u32>(mm_b_col(cols.x), mm_b_col(cols.y), mm_b_col(cols.z), mm_b_col(cols.w));
    return TileBases(a_base, b_base);
}

/// Copies k steps k0..k0+KC of the tile into a_tile / b_tile: invocation li
/// (0..64) copies vec4 li % 16 at k steps li / 16 + 4s, s = 0..3. Call between
/// two workgroupBarrier()s.
fn stage_tiles(k0: u32, li: u32, bases: TileBases) {
    let q = li % QUADS;
    let kc0 = li / QUADS;
    for (var s = 0u; s < KC; s += 4u) {
        let kk = k0 + kc0 + s;
        // Zero past k (a is zeroed, so the product is), so every chunk runs KC steps.
        let live = f32(kk < p.k);
        let at = min(kk, p.k - 1u);
        let ai = bases.a + at * p.a_col_stride;
        let bi = bases.b + at * p.b_row_stride;
        a_tile[(kc0 + s) * QUADS + q] = live * vec4<f32>(a[ai.x], a[ai.y], a[ai.z], a[ai.w]);
        b_tile[(kc0 + s) * QUADS + q] = vec4<f32>(b[bi.x], b[bi.y], b[bi.z], b[bi.w]);
    }
}

/// acc += (rows lo, hi) ⊗ (columns left, right): 64 FMAs.
fn outer(acc: ptr<function, Block>, lo: vec4<f32>, hi: vec4<f32>, left: vec4<f32>, right: vec4<f32>) {
    (*acc).r0l = fma(vec4<f32>(lo.x), left, (*acc).r0l);
    (*acc).r0r = fma(vec4<f32>(lo.x), right, (*acc).r0r);
    (*acc).r1l = fma(vec4<f32>(lo.y), left, (*acc).r1l);
    (*acc).r1r = fma(vec4<f32>(lo.y), right, (*acc).r1r);
    (*acc).r2l = fma(vec4<f32>(lo.z), left, (*acc).r2l);
    (*acc).r2r = fma(vec4<f32>(lo.z), right, (*acc).r2r);
    (*acc).r3l = fma(vec4<f32>(lo.w), left, (*acc).r3l);
    (*acc).r3r = fma(vec4<f32>(lo.w), right, (*acc).r3r);
    (*acc).r4l = fma(vec4<f32>(hi.x), left, (*acc).r4l);
    (*acc).r4r = fma(vec4<f32>(hi.x), right, (*acc).r4r);
    (*acc).r5l = fma(vec4<f32>(hi.y), left, (*acc).r5l);
    (*acc).r5r = fma(vec4<f32>(hi.y), right, (*acc).r5r);
    (*acc).r6l = fma(vec4<f32>(hi.z), left, (*acc).r6l);
    (*acc).r6r = fma(vec4<f32>(hi.z), right, (*acc).r6r);
    (*acc).r7l = fma(vec4<f32>(hi.w), left, (*acc).r7l);
    (*acc).r7r = fma(vec4<f32>(hi.w), right, (*acc).r7r);
}

/// All KC staged steps of invocation (lx, ly), every operand read from workgroup memory.
fn chunk_from_tiles(acc: ptr<function, Block>, lx: u32, ly: u32) {
    for (var kc = 0u; kc < KC; kc++) {
        let at = kc * QUADS;
        outer(acc, a_tile[at + 2u * ly], a_tile[at + 2u * ly + 1u], b_tile[at + 2u * lx], b_tile[at + 2u * lx + 1u]);
    }
}

/// Hands each row's two column quads of the block to the kernel's epilogue.
fn finish_block(acc: ptr<function, Block>, row0: u32, col0: u32) {
    let col1 = col0 + 4u;
    mm_epilogue(row0 + 0u, col0, (*acc).r0l);
    mm_epilogue(row0 + 0u, col1, (*acc).r0r);
    mm_epilogue(row0 + 1u, col0, (*acc).r1l);
    mm_epilogue(row0 + 1u, col1, (*acc).r1r);
    mm_epilogue(row0 + 2u, col0, (*acc).r2l);
    mm_epilogue(row0 + 2u, col1, (*acc).r2r);
    mm_epilogue(row0 + 3u, col0, (*acc).r3l);
    mm_epilogue(row0 + 3u, col1, (*acc).r3r);
    mm_epilogue(row0 + 4u, col0, (*acc).r4l);
    mm_epilogue(row0 + 4u, col1, (*acc).r4r);
    mm_epilogue(row0 + 5u, col0, (*acc).r5l);
    mm_epilogue(row0 + 5u, col1, (*acc).r5r);
    mm_epilogue(row0 + 6u, col0, (*acc).r6l);
    mm_epilogue(row0 + 6u, col1, (*acc).r6r);
    mm_epilogue(row0 + 7u, col0, (*acc).r7l);
    mm_epilogue(row0 + 7u, col1, (*acc).r7r);
}
