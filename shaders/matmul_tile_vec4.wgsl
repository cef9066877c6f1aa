// matmul_tile_vec4: the subgroup matmul tile core reading op(A) and op(B)
// four elements per load, for operands stored in aligned quads. The contract
// of matmul_tile.wgsl (whose header states it), with three differences:
// - a word (MmWord) is a vec4<f32>: element e of `a` or `b` is component
//   e % 4 of word e / 4;
// - each operand is stored in quads along k or across it, and the core tells
//   which by its stride: op(A) is along k when p.a_col_stride == 1 (rows of A
//   as stored), else across k (four consecutive rows are consecutive
//   elements, a_col_stride a multiple of 4: A stored transposed); op(B) is
//   along k when p.b_row_stride == 1 (B stored transposed), else across k
//   (four consecutive columns consecutive, b_row_stride a multiple of 4);
// - every index mm_a_row / mm_b_col returns for a quad's first row / column
//   is a multiple of 4, and an operand along k has k % 4 == 0.
// core_kernels.rs takes this core only for views that satisfy all of it
// (`reads_in_quads`), and the scalar subgroup core otherwise.
//
// The tile is the scalar subgroup core's (matmul_tile_subgroup.wgsl): one
// subgroup of 8 lanes computes 32 x 64 of S; lane j owns the quads at columns
// 4j.. and 32+4j.. for all 32 rows and reads op(A) of rows 4j..4j+3, which
// every lane takes from it by subgroupShuffle. Per 4 k steps k0..k0+3 each
// lane loads 4 words of op(A) (its 4 rows x 4 steps) and 8 of op(B) (its 8
// columns x 4 steps), a 4 x 4 block each, transposed in registers where the
// storage order is the other one, and makes 32 x 8 x 4 FMAs. Each
// accumulator is written once per 4 steps (the 4 FMAs chain in registers),
// and the loads of the next 4 steps are issued between this step's groups of
// rows. A tile of at most 8 live rows runs a second k loop over its first
// group of rows alone. Every element sums its k terms in order; steps past k
// (only across k) read a clamped op(B) against a zero op(A).
//
// Why (measured on llvmpipe, ARCHITECTURE.md): there every load whose offset
// is not a compile-time constant is a loop over the 8 lanes with a bounds
// check per component, and every write of a loop variable is a blend with
// the execution mask. A word load costs little more than a scalar one, so
// this core loads a quarter as often as the scalar one, writes its
// accumulators a quarter as often, and lets the lane loops of the next loads
// overlap the vector FMAs.

alias MmWord = vec4<f32>;

const MM_WG_X: u32 = 8u;
const MM_WG_Y: u32 = 1u;
/// Rows and columns of S per workgroup (core_kernels.rs: VEC4_TILE).
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

/// A 4 x 4 block of an operand. op(A): q{i} = row i at the 4 k steps;
/// op(B): q{t} = the 4 columns at k step t.
struct MmQuad4 {
    q0: vec4<f32>,
    q1: vec4<f32>,
    q2: vec4<f32>,
    q3: vec4<f32>,
}

fn mm_run(inv: MmInvocation) {
    let tile_row = (inv.workgroup_id.z * inv.num_workgroups.y + inv.workgroup_id.y) * MM_TILE_M;
    let j = inv.local_index;
    let col_left = inv.workgroup_id.x * MM_TILE_N + 4u * j;
    let own_rows = mm_a_words(tile_row + 4u * j);
    let left = mm_b_words(col_left);
    let right = mm_b_words(col_left + 32u);
    var acc: MmBlock;
    // The shuffles need the workgroup's 8 invocations to be lanes 0..7 of one
    // subgroup; the condition is the same for the whole workgroup.
    let lanes_are_local = subgroupAll(inv.lane == j);
    if inv.subgroup_size >= 8u && lanes_are_local {
        var a_next = mm_a_at(own_rows, 0u);
        var left_next = mm_b_at(left, 0u);
        var right_next = mm_b_at(right, 0u);
        // A tile of at most 8 rows (a batch of up to 8, as in sampling, or
        // the last tile of a batch) runs only its first group of rows: a
        // quarter of the FMAs. The condition is uniform; on llvmpipe the
        // loop not taken exits after one masked pass.
        let few_rows = p.m - tile_row <= 8u;
        for (var k0 = 0u; few_rows && k0 < p.k; k0 += 4u) {
            let own = a_next;
            let l = left_next;
            let r = right_next;
            a_next = mm_a_at(own_rows, k0 + 4u);
            left_next = mm_b_at(left, k0 + 4u);
            right_next = mm_b_at(right, k0 + 4u);
            acc.g0 = mm_rows8(acc.g0, mm_from_lane(own, 0u), mm_from_lane(own, 1u), l, r);
        }
        for (var k0 = 0u; !few_rows && k0 < p.k; k0 += 4u) {
            let own = a_next;
            let l = left_next;
            let r = right_next;
            // Past the last step these read words they never use (clamped or
            // inside the buffer's bounds checks).
            a_next = mm_a_at(own_rows, k0 + 4u);
            acc.g0 = mm_rows8(acc.g0, mm_from_lane(own, 0u), mm_from_lane(own, 1u), l, r);
            left_next = mm_b_at(left, k0 + 4u);
            acc.g1 = mm_rows8(acc.g1, mm_from_lane(own, 2u), mm_from_lane(own, 3u), l, r);
            right_next = mm_b_at(right, k0 + 4u);
            acc.g2 = mm_rows8(acc.g2, mm_from_lane(own, 4u), mm_from_lane(own, 5u), l, r);
            acc.g3 = mm_rows8(acc.g3, mm_from_lane(own, 6u), mm_from_lane(own, 7u), l, r);
        }
    } else {
        // Any other subgroup layout: every lane reads all 32 rows itself.
        for (var k0 = 0u; k0 < p.k; k0 += 4u) {
            let l = mm_b_at(left, k0);
            let r = mm_b_at(right, k0);
            acc.g0 = mm_rows8(acc.g0, mm_rows_at(tile_row, k0), mm_rows_at(tile_row + 4u, k0), l, r);
            acc.g1 = mm_rows8(acc.g1, mm_rows_at(tile_row + 8u, k0), mm_rows_at(tile_row + 12u, k0), l, r);
            acc.g2 = mm_rows8(acc.g2, mm_rows_at(tile_row + 16u, k0), mm_rows_at(tile_row + 20u, k0), l, r);
            acc.g3 = mm_rows8(acc.g3, mm_rows_at(tile_row + 24u, k0), mm_rows_at(tile_row + 28u, k0), l, r);
        }
    }
    mm_finish(acc.g0, tile_row, col_left);
    mm_finish(acc.g1, tile_row + 8u, col_left);
    mm_finish(acc.g2, tile_row + 16u, col_left);
    mm_finish(acc.g3, tile_row + 24u, col_left);
}

/// Words holding op(A) of rows row0..row0+3 at k step 0, edges clamped:
/// along k one word per row, across k the same word four times (their quad).
fn mm_a_words(row0: u32) -> vec4<u32> {
    if p.a_col_stride == 1u {
        let rows = min(vec4<u32>(row0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.m - 1u));
        return vec4<u32>(mm_a_row(rows.x), mm_a_row(rows.y), mm_a_row(rows.z), mm_a_row(rows.w)) / 4u;
    }
    return vec4<u32>(mm_a_row(min(row0, p.m - 4u)) / 4u);
}

/// Words holding op(B) of columns col0..col0+3 at k step 0, as mm_a_words.
fn mm_b_words(col0: u32) -> vec4<u32> {
    if p.b_row_stride == 1u {
        let cols = min(vec4<u32>(col0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n - 1u));
        return vec4<u32>(mm_b_col(cols.x), mm_b_col(cols.y), mm_b_col(cols.z), mm_b_col(cols.w)) / 4u;
    }
    return vec4<u32>(mm_b_col(min(col0, p.n - 4u)) / 4u);
}

/// The 4 words of steps k0..k0+3 from the step-0 words of a quad of rows or
/// columns: along k the next word of each, across k word (k0 + t) * stride / 4
/// of the quad for step t, steps clamped to k - 1.
fn mm_words_at(words: vec4<u32>, stride: u32, k0: u32) -> vec4<u32> {
    let steps = min(vec4<u32>(k0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.k - 1u));
    return select(words + steps * (stride / 4u), words + vec4<u32>(k0 / 4u), stride == 1u);
}

/// op(A) of four rows at steps k0..k0+3 (row i in q{i}), zero past k.
fn mm_a_at(words: vec4<u32>, k0: u32) -> MmQuad4 {
    let at = mm_words_at(words, p.a_col_stride, k0);
    let x = mm_pick(MmQuad4(a[at.x], a[at.y], a[at.z], a[at.w]), p.a_col_stride != 1u);
    let live = vec4<f32>(vec4<u32>(k0) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.k));
    return MmQuad4(x.q0 * live, x.q1 * live, x.q2 * live, x.q3 * live);
}

/// op(A) of rows row0..row0+3 at steps k0..k0+3, read by this lane alone.
fn mm_rows_at(row0: u32, k0: u32) -> MmQuad4 {
    return mm_a_at(mm_a_words(row0), k0);
}

/// op(B) of four columns at steps k0..k0+3 (step t in q{t}).
fn mm_b_at(words: vec4<u32>, k0: u32) -> MmQuad4 {
    let at = mm_words_at(words, p.b_row_stride, k0);
    return mm_pick(MmQuad4(b[at.x], b[at.y], b[at.z], b[at.w]), p.b_row_stride == 1u);
}

/// x, or x transposed when `flip` (uniform: selects, no branch in the k loop).
fn mm_pick(x: MmQuad4, flip: bool) -> MmQuad4 {
    let t = mm_transpose(x);
    return MmQuad4(select(x.q0, t.q0, flip), select(x.q1, t.q1, flip), select(x.q2, t.q2, flip), select(x.q3, t.q3, flip));
}

fn mm_transpose(x: MmQuad4) -> MmQuad4 {
    return MmQuad4(
        vec4<f32>(x.q0.x, x.q1.x, x.q2.x, x.q3.x),
        vec4<f32>(x.q0.y, x.q1.y, x.q2.y, x.q3.y),
        vec4<f32>(x.q0.z, x.q1.z, x.q2.z, x.q3.z),
        vec4<f32>(x.q0.w, x.q1.w, x.q2.w, x.q3.w),
    );
}

/// Lane t's block, in every lane (register shuffles on SIMD compilers).
fn mm_from_lane(x: MmQuad4, t: u32) -> MmQuad4 {
    // Each subgroup op is its own statement (naga 30's SPIR-V writer fails on
    // one nested in a constructor).
    let q0 = subgroupShuffle(x.q0, t);
    let q1 = subgroupShuffle(x.q1, t);
    let q2 = subgroupShuffle(x.q2, t);
    let q3 = subgroupShuffle(x.q3, t);
    return MmQuad4(q0, q1, q2, q3);
}

/// Four k steps of eight rows: lo holds rows 0..3 of them, hi rows 4..7.
fn mm_rows8(s: MmRows8, lo: MmQuad4, hi: MmQuad4, left: MmQuad4, right: MmQuad4) -> MmRows8 {
    return MmRows8(
        mm_row(s.r0, lo.q0, left, right),
        mm_row(s.r1, lo.q1, left, right),
        mm_row(s.r2, lo.q2, left, right),
        mm_row(s.r3, lo.q3, left, right),
        mm_row(s.r4, hi.q0, left, right),
        mm_row(s.r5, hi.q1, left, right),
        mm_row(s.r6, hi.q2, left, right),
        mm_row(s.r7, hi.q3, left, right),
    );
}

/// s + Σ_t x[t] · (left, right) at step t, the steps in order.
fn mm_row(s: MmRow, x: vec4<f32>, left: MmQuad4, right: MmQuad4) -> MmRow {
    return MmRow(mm_chain(s.left, x, left), mm_chain(s.right, x, right));
}

fn mm_chain(s: vec4<f32>, x: vec4<f32>, b: MmQuad4) -> vec4<f32> {
    let s1 = fma(vec4<f32>(x.x), b.q0, s);
    let s2 = fma(vec4<f32>(x.y), b.q1, s1);
    let s3 = fma(vec4<f32>(x.z), b.q2, s2);
    return fma(vec4<f32>(x.w), b.q3, s3);
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

/// Element i of `a` and `b` (component i % 4 of word i / 4), for the
/// includer's own reads and writes.
fn mm_a_elem(i: u32) -> f32 {
    return a[i / 4u][i % 4u];
}

fn mm_set_a_elem(i: u32, value: f32) {
    a[i / 4u][i % 4u] = value;
}

fn mm_b_elem(i: u32) -> f32 {
    return b[i / 4u][i % 4u];
}
