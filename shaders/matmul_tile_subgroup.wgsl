// matmul_tile_subgroup: the matmul tile core for adapters with wgpu's
// Features::SUBGROUP, chosen where subgroups are 8 SIMD lanes of a CPU
// (llvmpipe). The same contract as the portable core (matmul_tile.wgsl, whose
// header states it) and the same includers; only the tile differs.
//
// S[row, col] = Σ_kk op(A)[row, kk] · op(B)[kk, col]. A workgroup is one
// subgroup of 8 invocations and computes a 32 x 64 tile of S, with no
// workgroup memory and no barrier: all 8 lanes share the tile's 32 rows, and
// lane j owns the quads at columns 4j..4j+3 and 32+4j..32+4j+3, so its block
// is 32 rows x 8 columns (64 vec4 accumulators). Per 8 k steps k0..k0+7:
//   - lane j reads op(A) of the 32 rows at step k0 + j (32 loads, zero past k);
//   - step k0 + t: every lane reads its 8 columns of op(B) at that step and
//     takes the rows' op(A) at step k0 + t from lane t (subgroupShuffle with a
//     constant lane: one register permute on SIMD compilers);
//   - 32 x 8 FMAs per lane per step.
// So each element of op(A) and op(B) is loaded once per subgroup: 12 loads
// per lane per k step for 256 FMAs. Every element sums its k terms in order.
// Rows and columns past the edges are clamped for reading; steps past k read
// a clamped op(B) against a zero op(A).
//
// Why this shape (measured on llvmpipe, Mesa 22.3 and 25.0, see
// ARCHITECTURE.md): llvmpipe runs a subgroup as the 8 lanes of one AVX2
// register, and every storage or workgroup-memory load whose offset is not a
// compile-time constant becomes a loop over the lanes with a bounds check
// (~16 instructions per lane), while a shuffle is one instruction. Loads, not
// FMAs, set the speed, so the block per lane is as large as compiles quickly,
// and a barrier (which turns the kernel into coroutines) buys nothing.
//
// Any other subgroup layout (fewer than 8 lanes, or the workgroup not on lanes
// 0..7) takes the second loop, which reads op(A) per lane at every step: the
// same sums, slower.

alias MmWord = f32;

const MM_WG_X: u32 = 8u;
const MM_WG_Y: u32 = 1u;
/// Rows and columns of S per workgroup (kernels.rs: MATMUL_SUBGROUP_TILE).
const MM_TILE_M: u32 = 32u;
const MM_TILE_N: u32 = 64u;

struct MmInvocation {
    @builtin(workgroup_id) workgroup_id: vec3<u32>,
    @builtin(local_invocation_index) local_index: u32,
    @builtin(num_workgroups) num_workgroups: vec3<u32>,
    @builtin(subgroup_size) subgroup_size: u32,
    @builtin(subgroup_invocation_id) lane: u32,
}

/// One row of a lane's block: its columns 4j..4j+3 (left) and 32+4j..32+4j+3 (right) of the tile.
struct MmRow {
    left: vec4<f32>,
    right: vec4<f32>,
}

/// Eight rows of a lane's block.
struct MmRows8 {
    r0: MmRow,
    r1: MmRow,
    r2: MmRow,
    r3: MmRow,
    r4: MmRow,
    r5: MmRow,
    r6: MmRow,
    r7: MmRow,
}

/// A lane's whole block: rows 8g..8g+7 of the tile in g{g}.
struct MmBlock {
    g0: MmRows8,
    g1: MmRows8,
    g2: MmRows8,
    g3: MmRows8,
}

/// One value per row of the tile, rows 4i..4i+3 in v{i}: op(A) at one k step.
struct MmRowsF {
    v0: vec4<f32>,
    v1: vec4<f32>,
    v2: vec4<f32>,
    v3: vec4<f32>,
    v4: vec4<f32>,
    v5: vec4<f32>,
    v6: vec4<f32>,
    v7: vec4<f32>,
}

/// Element indices of op(A)[row, 0] of the tile's rows, rows 4i..4i+3 in v{i}.
struct MmRowsU {
    v0: vec4<u32>,
    v1: vec4<u32>,
    v2: vec4<u32>,
    v3: vec4<u32>,
    v4: vec4<u32>,
    v5: vec4<u32>,
    v6: vec4<u32>,
    v7: vec4<u32>,
}

fn mm_run(inv: MmInvocation) {
    let tile_row = (inv.workgroup_id.z * inv.num_workgroups.y + inv.workgroup_id.y) * MM_TILE_M;
    let j = inv.local_index;
    let col_left = inv.workgroup_id.x * MM_TILE_N + 4u * j;
    let col_right = col_left + 32u;
    let b_left = mm_b_cols(col_left);
    let b_right = mm_b_cols(col_right);
    let a_rows = mm_a_rows(tile_row);
    var acc: MmBlock;
    // The shuffles need the workgroup's 8 invocations to be lanes 0..7 of one
    // subgroup; the condition is the same for the whole workgroup.
    let lanes_are_local = subgroupAll(inv.lane == j);
    if inv.subgroup_size >= 8u && lanes_are_local {
        for (var k0 = 0u; k0 < p.k; k0 += 8u) {
            // Lane j reads op(A) of all 32 rows at step k0 + j (zero past k)...
            let kk = k0 + j;
            let own = mm_scale(mm_a_at(a_rows, min(kk, p.k - 1u)), f32(kk < p.k));
            // ...and step k0 + t hands every lane lane t's values.
            mm_step(&acc, mm_from_lane(own, 0u), mm_b_at(b_left, k0), mm_b_at(b_right, k0));
            mm_step(&acc, mm_from_lane(own, 1u), mm_b_at(b_left, k0 + 1u), mm_b_at(b_right, k0 + 1u));
            mm_step(&acc, mm_from_lane(own, 2u), mm_b_at(b_left, k0 + 2u), mm_b_at(b_right, k0 + 2u));
            mm_step(&acc, mm_from_lane(own, 3u), mm_b_at(b_left, k0 + 3u), mm_b_at(b_right, k0 + 3u));
            mm_step(&acc, mm_from_lane(own, 4u), mm_b_at(b_left, k0 + 4u), mm_b_at(b_right, k0 + 4u));
            mm_step(&acc, mm_from_lane(own, 5u), mm_b_at(b_left, k0 + 5u), mm_b_at(b_right, k0 + 5u));
            mm_step(&acc, mm_from_lane(own, 6u), mm_b_at(b_left, k0 + 6u), mm_b_at(b_right, k0 + 6u));
            mm_step(&acc, mm_from_lane(own, 7u), mm_b_at(b_left, k0 + 7u), mm_b_at(b_right, k0 + 7u));
        }
    } else {
        for (var kk = 0u; kk < p.k; kk++) {
            mm_step(&acc, mm_a_at(a_rows, kk), mm_b_at(b_left, kk), mm_b_at(b_right, kk));
        }
    }
    mm_finish(acc.g0, tile_row, col_left);
    mm_finish(acc.g1, tile_row + 8u, col_left);
    mm_finish(acc.g2, tile_row + 16u, col_left);
    mm_finish(acc.g3, tile_row + 24u, col_left);
}

/// Element indices of op(B)[0, col..col+3], edges clamped.
fn mm_b_cols(col: u32) -> vec4<u32> {
    let cols = min(vec4<u32>(col) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n - 1u));
    return vec4<u32>(mm_b_col(cols.x), mm_b_col(cols.y), mm_b_col(cols.z), mm_b_col(cols.w));
}

/// op(B)[kk, the four columns of `cols`], kk clamped (op(A) is zero past k).
fn mm_b_at(cols: vec4<u32>, kk: u32) -> vec4<f32> {
    let at = cols + vec4<u32>(min(kk, p.k - 1u) * p.b_row_stride);
    return vec4<f32>(b[at.x], b[at.y], b[at.z], b[at.w]);
}

/// Element indices of op(A)[tile_row + r, 0], r = 0..31, edges clamped.
fn mm_a_rows(tile_row: u32) -> MmRowsU {
    var rows: MmRowsU;
    rows.v0 = mm_a4(tile_row);
    rows.v1 = mm_a4(tile_row + 4u);
    rows.v2 = mm_a4(tile_row + 8u);
    rows.v3 = mm_a4(tile_row + 12u);
    rows.v4 = mm_a4(tile_row + 16u);
    rows.v5 = mm_a4(tile_row + 20u);
    rows.v6 = mm_a4(tile_row + 24u);
    rows.v7 = mm_a4(tile_row + 28u);
    return rows;
}

fn mm_a4(row: u32) -> vec4<u32> {
    let rows = min(vec4<u32>(row) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.m - 1u));
    return vec4<u32>(mm_a_row(rows.x), mm_a_row(rows.y), mm_a_row(rows.z), mm_a_row(rows.w));
}

/// op(A)[tile rows, kk].
fn mm_a_at(rows: MmRowsU, kk: u32) -> MmRowsF {
    let off = kk * p.a_col_stride;
    var x: MmRowsF;
    x.v0 = mm_load_a(rows.v0, off);
    x.v1 = mm_load_a(rows.v1, off);
    x.v2 = mm_load_a(rows.v2, off);
    x.v3 = mm_load_a(rows.v3, off);
    x.v4 = mm_load_a(rows.v4, off);
    x.v5 = mm_load_a(rows.v5, off);
    x.v6 = mm_load_a(rows.v6, off);
    x.v7 = mm_load_a(rows.v7, off);
    return x;
}

fn mm_load_a(rows: vec4<u32>, off: u32) -> vec4<f32> {
    let at = rows + vec4<u32>(off);
    return vec4<f32>(a[at.x], a[at.y], a[at.z], a[at.w]);
}

fn mm_scale(x: MmRowsF, s: f32) -> MmRowsF {
    return MmRowsF(s * x.v0, s * x.v1, s * x.v2, s * x.v3, s * x.v4, s * x.v5, s * x.v6, s * x.v7);
}

/// Lane t's values, in every lane (a register shuffle on SIMD compilers).
fn mm_from_lane(x: MmRowsF, t: u32) -> MmRowsF {
    // Each subgroup op is its own statement (naga 30's SPIR-V writer fails on
    // one nested in a constructor).
    let v0 = subgroupShuffle(x.v0, t);
    let v1 = subgroupShuffle(x.v1, t);
    let v2 = subgroupShuffle(x.v2, t);
    let v3 = subgroupShuffle(x.v3, t);
    let v4 = subgroupShuffle(x.v4, t);
    let v5 = subgroupShuffle(x.v5, t);
    let v6 = subgroupShuffle(x.v6, t);
    let v7 = subgroupShuffle(x.v7, t);
    return MmRowsF(v0, v1, v2, v3, v4, v5, v6, v7);
}

/// One k step: acc[r] += a[r] * (left, right) for the 32 rows.
fn mm_step(acc: ptr<function, MmBlock>, a: MmRowsF, left: vec4<f32>, right: vec4<f32>) {
    (*acc).g0 = mm_rows8((*acc).g0, a.v0, a.v1, left, right);
    (*acc).g1 = mm_rows8((*acc).g1, a.v2, a.v3, left, right);
    (*acc).g2 = mm_rows8((*acc).g2, a.v4, a.v5, left, right);
    (*acc).g3 = mm_rows8((*acc).g3, a.v6, a.v7, left, right);
}

fn mm_rows8(s: MmRows8, lo: vec4<f32>, hi: vec4<f32>, left: vec4<f32>, right: vec4<f32>) -> MmRows8 {
    var t = s;
    t.r0 = mm_row(s.r0, lo.x, left, right);
    t.r1 = mm_row(s.r1, lo.y, left, right);
    t.r2 = mm_row(s.r2, lo.z, left, right);
    t.r3 = mm_row(s.r3, lo.w, left, right);
    t.r4 = mm_row(s.r4, hi.x, left, right);
    t.r5 = mm_row(s.r5, hi.y, left, right);
    t.r6 = mm_row(s.r6, hi.z, left, right);
    t.r7 = mm_row(s.r7, hi.w, left, right);
    return t;
}

fn mm_row(s: MmRow, x: f32, left: vec4<f32>, right: vec4<f32>) -> MmRow {
    let a = vec4<f32>(x);
    return MmRow(fma(a, left, s.left), fma(a, right, s.right));
}

/// Hands rows row0..row0+7 of the block to the includer's epilogue.
fn mm_finish(s: MmRows8, row0: u32, col: u32) {
    mm_finish_row(s.r0, row0, col);
    mm_finish_row(s.r1, row0 + 1u, col);
    mm_finish_row(s.r2, row0 + 2u, col);
    mm_finish_row(s.r3, row0 + 3u, col);
    mm_finish_row(s.r4, row0 + 4u, col);
    mm_finish_row(s.r5, row0 + 5u, col);
    mm_finish_row(s.r6, row0 + 6u, col);
    mm_finish_row(s.r7, row0 + 7u, col);
}

fn mm_finish_row(s: MmRow, row: u32, col: u32) {
    mm_epilogue(row, col, s.left);
    mm_epilogue(row, col + 32u, s.right);
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
