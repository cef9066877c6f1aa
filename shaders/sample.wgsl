// sample_next: the next token of each stream, drawn on the device so that
// generation runs many steps per submit with no readback in between.
//   greedy: the most likely class (lowest id among equals);
//   else:   p_i ∝ exp((z_i - max z) / τ) over the candidates (the top_k
//           largest, ties ranked by lower id; all classes when top_k = 0),
//           u = draw_uniform(seed, counter + step, row) · Σ p, and the first
//           candidate whose running sum passes u (the last if rounding leaves
//           u on top).
//   A row whose step < forced[row] keeps the id the host wrote (its prime).
// control = [seed, counter, top_k, bitcast τ, greedy, 0, 0, 0, forced[rows]].
//
// Bindings (each view at an element offset into its buffer):
//   1 tokens  [rows] u32, in place     2 samples [rows] f32 (the ids as floats)
//   3 logits  [rows, classes] f32      4 control [8 + rows] u32
// Grid: one invocation per row, 1D (folded into (x, y), see linear_index).
// Each invocation walks its row sequentially. With top_k and finite logits
// the row's last candidate (the class of rank top_k - 1 in the order z
// descending, id ascending) is found once, O(classes²) at worst, and each
// class is then compared with it; otherwise (a NaN or ±∞ among the logits)
// each class is ranked against every other where it is tested, the
// definition itself. cpu::sampling::TopK is the twin.

struct SampleParams {
    tokens_off: u32,
    samples_off: u32,
    logits_off: u32,
    control_off: u32,
    rows: u32,
    classes: u32,
    step: u32,
    _pad: u32,
}

/// Words of control before the per-row forced counts (SAMPLE_CONTROL_HEADER).
const CONTROL_HEADER: u32 = 8u;

@group(0) @binding(0) var<uniform> p: SampleParams;
@group(0) @binding(1) var<storage, read_write> tokens: array<u32>;
@group(0) @binding(2) var<storage, read_write> samples: array<f32>;
@group(0) @binding(3) var<storage, read_write> logits: array<f32>;
@group(0) @binding(4) var<storage, read_write> control: array<u32>;

/// Uniform in [0, 1) from (seed, step, row), 24 bits; twin of cpu::sampling::draw_uniform.
fn draw_uniform(seed: u32, step: u32, row: u32) -> f32 {
    let key = lowbias32(seed ^ lowbias32(step));
    return f32(lowbias32(key ^ lowbias32(row)) >> 8u) * (1.0 / 16777216.0);
}

/// Classes ranked before class i of the row at base: larger z, or equal z and a lower id.
fn rank_of(base: u32, i: u32) -> u32 {
    let zi = logits[base + i];
    var rank = 0u;
    for (var j = 0u; j < p.classes; j++) {
        let zj = logits[base + j];
        if zj > zi || (zj == zi && j < i) {
            rank++;
        }
    }
    return rank;
}

/// The row's last candidate: the class of rank top_k - 1, or `p.classes`
/// when every class is one (top_k = 0 or ≥ classes) or when the ranks do not
/// order the row (a NaN or ±∞ in it: `finite` false), where `in_top_k` ranks
/// each class itself.
fn last_candidate(base: u32, top_k: u32, finite: bool) -> u32 {
    if top_k == 0u || top_k >= p.classes || !finite {
        return p.classes;
    }
    for (var i = 0u; i < p.classes; i++) {
        if rank_of(base, i) == top_k - 1u {
            return i;
        }
    }
    return p.classes;
}

/// Whether class i is among the top_k, given the row's `last_candidate`.
fn in_top_k(base: u32, i: u32, top_k: u32, last: u32) -> bool {
    if top_k == 0u || top_k >= p.classes {
        return true;
    }
    if last == p.classes {
        return rank_of(base, i) < top_k;
    }
    let zi = logits[base + i];
    let zt = logits[base + last];
    return zi > zt || (zi == zt && i <= last);
}

@compute @workgroup_size(WG_1D)
fn sample_next(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let row = linear_index(wid, lid, nwg);
    if row >= p.rows {
        return;
    }
    let c = p.control_off;
    if p.step < control[c + CONTROL_HEADER + row] {
        samples[p.samples_off + row] = f32(tokens[p.tokens_off + row]);
        return;
    }
    let base = p.logits_off + row * p.classes;
    var best = 0u;
    var finite = true;
    for (var i = 0u; i < p.classes; i++) {
        let z = logits[base + i];
        if z > logits[base + best] {
            best = i;
        }
        // Exponent bits all ones: NaN or ±∞.
        finite = finite && (bitcast<u32>(z) & 0x7f800000u) != 0x7f800000u;
    }
    var pick = best;
    if control[c + 4u] == 0u {
        let top_k = control[c + 2u];
        let inv_temperature = 1.0 / bitcast<f32>(control[c + 3u]);
        let top = logits[base + best];
        let last = last_candidate(base, top_k, finite);
        var total = 0.0;
        for (var i = 0u; i < p.classes; i++) {
            if in_top_k(base, i, top_k, last) {
                total += exp((logits[base + i] - top) * inv_temperature);
            }
        }
        let u = draw_uniform(control[c], control[c + 1u] + p.step, row) * total;
        // Ends on the first candidate past u, or on the last candidate.
        var running = 0.0;
        for (var i = 0u; i < p.classes; i++) {
            if in_top_k(base, i, top_k, last) {
                running += exp((logits[base + i] - top) * inv_temperature);
                pick = i;
                if u < running {
                    break;
                }
            }
        }
    }
    tokens[p.tokens_off + row] = pick;
    samples[p.samples_off + row] = f32(pick);
}
