// column_sum: out[j] += Σ_r x[r, j] (adds into out; a bias gradient, the sum
// of ∂pre over the rows of a block)
//
// Bindings (f32, each view at an element offset into its buffer):
//   1 out [cols], 2 x [rows, cols] row-major, read in words of WORD elements
//   (the source starts with word_f32.wgsl, or word_vec4.wgsl where x's
//   offset and cols are multiples of 4).
// Grid: one workgroup of WG_1D invocations per COL_LANES words of a row, 1D
//   (folded into (x, y), see workgroup_index). Invocation (lane, phase) of a
//   workgroup adds the word `lane` of rows phase, phase + COL_PHASES, ... in
//   order; then the COL_PHASES partial sums are added as a fixed binary tree
//   in workgroup memory. Both orders are fixed, so results do not vary from
//   run to run (they differ from the CPU's left-to-right sums only by
//   rounding). Splitting the rows gives a block's narrow sums (the head's
//   bias, 65 columns) several workgroups instead of one long serial loop,
//   and on llvmpipe a vec4 word costs about as much to load as 2 f32s.

/// Words of a row per workgroup, and row phases per word: COL_LANES · COL_PHASES = WG_1D.
const COL_LANES: u32 = 16u;
const COL_PHASES: u32 = 16u;

struct ColumnSumParams {
    out_off: u32,
    x_off: u32,
    rows: u32,
    cols: u32,
}

@group(0) @binding(0) var<uniform> col_p: ColumnSumParams;
@group(0) @binding(1) var<storage, read_write> col_out: array<f32>;
@group(0) @binding(2) var<storage, read_write> col_x: array<Word>;

var<workgroup> col_tree: array<Word, WG_1D>;

@compute @workgroup_size(WG_1D)
fn column_sum(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let lane = lid % COL_LANES;
    let phase = lid / COL_LANES;
    let words = col_p.cols / WORD;
    let word = workgroup_index(wid, nwg) * COL_LANES + lane;
    var sum = Word(0.0);
    if word < words {
        let first = col_p.x_off / WORD + word;
        for (var r = phase; r < col_p.rows; r += COL_PHASES) {
            sum += col_x[first + r * words];
        }
    }
    // Fixed tree over the phases; every invocation reaches every barrier.
    col_tree[lid] = sum;
    workgroupBarrier();
    for (var half = COL_PHASES / 2u; half > 0u; half /= 2u) {
        if phase < half {
            col_tree[lid] += col_tree[lid + half * COL_LANES];
        }
        workgroupBarrier();
    }
    if phase == 0u && word < words {
        let total = col_tree[lid];
        for (var e = 0u; e < WORD; e++) {
            let j = col_p.out_off + word * WORD + e;
            col_out[j] += word_elem(total, e);
        }
    }
}
