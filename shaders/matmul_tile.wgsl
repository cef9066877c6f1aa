// matmul_tile: the portable matmul tile core (no optional feature). Never
// compiled alone: it is appended to an including kernel file, which supplies
// the problem; the core computes one MM_TILE_M x MM_TILE_N tile of
//   S[row, col] = Σ_kk op(A)[row, kk] · op(B)[kk, col]     (row < m, col < n, kk < k)
// per workgroup and hands every finished quad of S to the includer.
//
// The contract (matmul_tile_subgroup.wgsl keeps the same one, with its own
// MM_WG_* and MM_TILE_*):
// - The includer declares a uniform `p` with at least the u32 fields
//   m, n, k, a_col_stride, b_row_stride; storage arrays `a`, `b` of f32,
//   declared array<MmWord> (the core's word: f32 here, vec4<f32> in the vec4
//   core), whose elements the includer itself reads and writes only through
//   the core's mm_a_elem, mm_set_a_elem and mm_b_elem; and
//     fn mm_a_row(row: u32) -> u32   element index of op(A)[row, 0] (row < m):
//                                    op(A)[row, kk] = a[mm_a_row(row) + kk * p.a_col_stride]
//     fn mm_b_col(col: u32) -> u32   element index of op(B)[0, col] (col < n):
//                                    op(B)[kk, col] = b[mm_b_col(col) + kk * p.b_row_stride]
//                                    (columns need not be at equally spaced addresses)
//     fn mm_epilogue(row: u32, col0: u32, sums: vec4<f32>)
//                                    S[row, col0..col0+3], col0 % 4 == 0
// - The entry point is
//     @compute @workgroup_size(MM_WG_X, MM_WG_Y, 1) fn k(inv: MmInvocation) { mm_run(inv); }
//   over the grid (ceil(n / MM_TILE_N), ceil(m / MM_TILE_M), z), row tiles past
//   65535 folded into z (row tile = z * num_workgroups.y + y).
// - mm_epilogue is called once for every quad of every invocation's block,
//   including quads past the edges (row >= m or col0 + i >= n), which it must
//   skip; the 4 columns of a quad always come from one invocation. Rows and
//   columns past the edges are clamped for reading, so reads stay inside the
//   views; k may be any size >= 1.
//
// The tiles: a workgroup of 64 invocations computes a 64x64 tile of S;
// invocation (lx, ly) = (li % 8, li / 8) owns the 8x8 block at rows 8*ly..,
// columns 8*lx.. of the tile. Per KC-step chunk of k, `mm_stage` copies the
// tile's rows of op(A) and columns of op(B) into workgroup memory k-major (2
// storage loads per invocation per k step), so four neighbouring rows or
// columns form one vec4; the inner step then needs 4 vec4 workgroup loads for
// 64 FMAs (`mm_outer`). Steps past k are staged as zeros, so a chunk may always
// run all KC steps. Every element sums its k terms in order.
//
// This is the GPU-shaped core (coalesced staging, workgroup-memory reuse, 64
// accumulators per thread) and the fallback everywhere. On llvmpipe, where
// each workgroup-memory load is a loop over the SIMD lanes, the subgroup
// core is ~2x faster; see ARCHITECTURE.md.

alias MmWord = f32;

const MM_WG_X: u32 = 64u;
const MM_WG_Y: u32 = 1u;
/// Rows and columns of S per workgroup (kernels.rs: MATMUL_TILE).
const MM_TILE_M: u32 = 64u;
const MM_TILE_N: u32 = 64u;
/// k steps staged in workgroup memory at a time.
const MM_KC: u32 = 16u;
/// vec4s per k step of a staged tile (64 / 4).
const MM_QUADS: u32 = 16u;

struct MmInvocation {
    @builtin(workgroup_id) workgroup_id: vec3<u32>,
    @builtin(local_invocation_index) local_index: u32,
    @builtin(num_workgroups) num_workgroups: vec3<u32>,
}

/// op(A) of the tile's rows: mm_a_tile[kc * MM_QUADS + q] = rows 4q..4q+3 at k step k0 + kc.
var<workgroup> mm_a_tile: array<vec4<f32>, 256>;
/// op(B) of the tile's columns: mm_b_tile[kc * MM_QUADS + q] = columns 4q..4q+3 at k step k0 + kc.
var<workgroup> mm_b_tile: array<vec4<f32>, 256>;

/// One invocation's 8x8 block: r{i}l / r{i}r = row 8*ly + i, columns 8*lx + 0..3 / 4..7.
struct MmBlock {
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

/// Where a tile's staging reads start: element indices of rows tile_row + quad
/// of op(A) and columns tile_col + quad of op(B), edges clamped.
struct MmBases {
    a: vec4<u32>,
    b: vec4<u32>,
}

fn mm_run(inv: MmInvocation) {
    let tile_row = (inv.workgroup_id.z * inv.num_workgroups.y + inv.workgroup_id.y) * MM_TILE_M;
    let tile_col = inv.workgroup_id.x * MM_TILE_N;
    let li = inv.local_index;
    let bases = mm_bases(tile_row, tile_col, li);
    let lx = li % 8u;
    let ly = li / 8u;
    var acc: MmBlock;
    for (var k0 = 0u; k0 < p.k; k0 += MM_KC) {
        workgroupBarrier();
        mm_stage(k0, li, bases);
        workgroupBarrier();
        mm_chunk_from_tiles(&acc, lx, ly);
    }
    mm_finish(&acc, tile_row + 8u * ly, tile_col + 8u * lx);
}

fn mm_bases(tile_row: u32, tile_col: u32, li: u32) -> MmBases {
    let q = 4u * (li % MM_QUADS);
    let rows = min(vec4<u32>(tile_row + q) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.m - 1u));
    let cols = min(vec4<u32>(tile_col + q) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n - 1u));
    let a_base = vec4<u32>(mm_a_row(rows.x), mm_a_row(rows.y), mm_a_row(rows.z), mm_a_row(rows.w));
    let b_base = vec4<u32>(mm_b_col(cols.x), mm_b_col(cols.y), mm_b_col(cols.z), mm_b_col(cols.w));
    return MmBases(a_base, b_base);
}

/// Copies k steps k0..k0+MM_KC of the tile into the workgroup tiles: invocation
/// li (0..64) copies vec4 li % 16 at k steps li / 16 + 4s, s = 0..3. Call
/// between two workgroupBarrier()s.
fn mm_stage(k0: u32, li: u32, bases: MmBases) {
    let q = li % MM_QUADS;
    let kc0 = li / MM_QUADS;
    for (var s = 0u; s < MM_KC; s += 4u) {
        let kk = k0 + kc0 + s;
        // Zero past k (op(A) is zeroed, so the product is), so every chunk runs MM_KC steps.
        let live = f32(kk < p.k);
        let at = min(kk, p.k - 1u);
        let ai = bases.a + at * p.a_col_stride;
        let bi = bases.b + at * p.b_row_stride;
        mm_a_tile[(kc0 + s) * MM_QUADS + q] = live * vec4<f32>(a[ai.x], a[ai.y], a[ai.z], a[ai.w]);
        mm_b_tile[(kc0 + s) * MM_QUADS + q] = vec4<f32>(b[bi.x], b[bi.y], b[bi.z], b[bi.w]);
    }
}

/// acc += (rows lo, hi) ⊗ (columns left, right): 64 FMAs.
fn mm_outer(acc: ptr<function, MmBlock>, lo: vec4<f32>, hi: vec4<f32>, left: vec4<f32>, right: vec4<f32>) {
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

/// All MM_KC staged steps of invocation (lx, ly), every operand read from workgroup memory.
fn mm_chunk_from_tiles(acc: ptr<function, MmBlock>, lx: u32, ly: u32) {
    for (var kc = 0u; kc < MM_KC; kc++) {
        let at = kc * MM_QUADS;
        mm_outer(acc, mm_a_tile[at + 2u * ly], mm_a_tile[at + 2u * ly + 1u], mm_b_tile[at + 2u * lx], mm_b_tile[at + 2u * lx + 1u]);
    }
}

/// Hands each quad of the block to the includer's epilogue.
fn mm_finish(acc: ptr<function, MmBlock>, row0: u32, col0: u32) {
    mm_epilogue(row0 + 0u, col0, (*acc).r0l);
    mm_epilogue(row0 + 0u, col0 + 4u, (*acc).r0r);
    mm_epilogue(row0 + 1u, col0, (*acc).r1l);
    mm_epilogue(row0 + 1u, col0 + 4u, (*acc).r1r);
    mm_epilogue(row0 + 2u, col0, (*acc).r2l);
    mm_epilogue(row0 + 2u, col0 + 4u, (*acc).r2r);
    mm_epilogue(row0 + 3u, col0, (*acc).r3l);
    mm_epilogue(row0 + 3u, col0 + 4u, (*acc).r3r);
    mm_epilogue(row0 + 4u, col0, (*acc).r4l);
    mm_epilogue(row0 + 4u, col0 + 4u, (*acc).r4r);
    mm_epilogue(row0 + 5u, col0, (*acc).r5l);
    mm_epilogue(row0 + 5u, col0 + 4u, (*acc).r5r);
    mm_epilogue(row0 + 6u, col0, (*acc).r6l);
    mm_epilogue(row0 + 6u, col0 + 4u, (*acc).r6r);
    mm_epilogue(row0 + 7u, col0, (*acc).r7l);
    mm_epilogue(row0 + 7u, col0 + 4u, (*acc).r7r);
}

/// Element i of `a` and `b`, for the includer's own reads and writes.
fn mm_a_elem(i: u32) -> f32 {
    return a[i];
}

fn mm_set_a_elem(i: u32, value: f32) {
    a[i] = value;
}

fn mm_b_elem(i: u32) -> f32 {
    return b[i];
}
