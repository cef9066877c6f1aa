// matmul_tile_subgroup: the matmul tile core for adapters with wgpu's
// Features::SUBGROUP; the same contract, tiles and grid as the portable core
// (matmul_tile.wgsl, whose header states the contract), appended to the same
// including files. Only the inner chunk differs.
//
// The k-broadcast: when the subgroup has exactly 8 lanes, invocation (lane,
// subgroup) plays (lx, ly), so the 8 lanes of a subgroup share their 8 rows
// of op(A). Lane lx then reads the rows at k step 8h + lx only (2 vec4s), and
// subgroupBroadcast(·, kk) hands every lane the rows at step 8h + kk: op(A)
// costs 2 workgroup loads per 8 k steps instead of 2 per step. With any other
// subgroup size the core reads op(A) from workgroup memory like the portable
// one; WGSL requires a constant broadcast lane, so the 8-lane layout is the
// only one written out. The size is uniform, so every subgroup takes one
// branch and the broadcasts run with all lanes active. (naga 30 rejects
// `enable subgroups;`; the builtins need only the feature.)

const MM_WG_X: u32 = 64u;
const MM_WG_Y: u32 = 1u;
/// Rows and columns of S per workgroup (kernels.rs: MATMUL_TILE_M, MATMUL_TILE_N).
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
    @builtin(subgroup_size) subgroup_size: u32,
    @builtin(subgroup_id) subgroup_id: u32,
    @builtin(subgroup_invocation_id) lane: u32,
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
    let broadcast = inv.subgroup_size == 8u;
    // 8-lane subgroups: (lx, ly) = (lane, subgroup); otherwise the portable layout.
    var lx = li % 8u;
    var ly = li / 8u;
    if broadcast {
        lx = inv.lane;
        ly = inv.subgroup_id;
    }
    var acc: MmBlock;
    for (var k0 = 0u; k0 < p.k; k0 += MM_KC) {
        workgroupBarrier();
        mm_stage(k0, li, bases);
        workgroupBarrier();
        if broadcast {
            mm_chunk_broadcast(&acc, lx, ly);
        } else {
            mm_chunk_from_tiles(&acc, lx, ly);
        }
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

/// All MM_KC staged steps of lane lx of an 8-lane subgroup whose lanes share rows
/// 8*ly..8*ly+7: op(A) at step 8h + kk comes from lane kk (the k-broadcast).
fn mm_chunk_broadcast(acc: ptr<function, MmBlock>, lx: u32, ly: u32) {
    let lo0 = mm_a_tile[(0u + lx) * MM_QUADS + 2u * ly];
    let hi0 = mm_a_tile[(0u + lx) * MM_QUADS + 2u * ly + 1u];
    mm_outer(acc, subgroupBroadcast(lo0, 0u), subgroupBroadcast(hi0, 0u), mm_b_tile[0u * MM_QUADS + 2u * lx], mm_b_tile[0u * MM_QUADS + 2u * lx + 1u]);
    mm_outer(acc, subgroupBroadcast(lo0, 1u), subgroupBroadcast(hi0, 1u), mm_b_tile[1u * MM_QUADS + 2u * lx], mm_b_tile[1u * MM_QUADS + 2u * lx + 1u]);
    mm_outer(acc, subgroupBroadcast(lo0, 2u), subgroupBroadcast(hi0, 2u), mm_b_tile[2u * MM_QUADS + 2u * lx], mm_b_tile[2u * MM_QUADS + 2u * lx + 1u]);
    mm_outer(acc, subgroupBroadcast(lo0, 3u), subgroupBroadcast(hi0, 3u), mm_b_tile[3u * MM_QUADS + 2u * lx], mm_b_tile[3u * MM_QUADS + 2u * lx + 1u]);
    mm_outer(acc, subgroupBroadcast(lo0, 4u), subgroupBroadcast(hi0, 4u), mm_b_tile[4u * MM_QUADS + 2u * lx], mm_b_tile[4u * MM_QUADS + 2u * lx + 1u]);
    mm_outer(acc, subgroupBroadcast(lo0, 5u), subgroupBroadcast(hi0, 5u), mm_b_tile[5u * MM_QUADS + 2u * lx], mm_b_tile[5u * MM_QUADS + 2u * lx + 1u]);
    mm_outer(acc, subgroupBroadcast(lo0, 6u), subgroupBroadcast(hi0, 6u), mm_b_tile[6u * MM_QUADS + 2u * lx], mm_b_tile[6u * MM_QUADS + 2u * lx + 1u]);
    mm_outer(acc, subgroupBroadcast(lo0, 7u), subgroupBroadcast(hi0, 7u), mm_b_tile[7u * MM_QUADS + 2u * lx], mm_b_tile[7u * MM_QUADS + 2u * lx + 1u]);
    let lo1 = mm_a_tile[(8u + lx) * MM_QUADS + 2u * ly];
    let hi1 = mm_a_tile[(8u + lx) * MM_QUADS + 2u * ly + 1u];
    mm_outer(acc, subgroupBroadcast(lo1, 0u), subgroupBroadcast(hi1, 0u), mm_b_tile[8u * MM_QUADS + 2u * lx], mm_b_tile[8u * MM_QUADS + 2u * lx + 1u]);
    mm_outer(acc, subgroupBroadcast(lo1, 1u), subgroupBroadcast(hi1, 1u), mm_b_tile[9u * MM_QUADS + 2u * lx], mm_b_tile[9u * MM_QUADS + 2u * lx + 1u]);
    mm_outer(acc, subgroupBroadcast(lo1, 2u), subgroupBroadcast(hi1, 2u), mm_b_tile[10u * MM_QUADS + 2u * lx], mm_b_tile[10u * MM_QUADS + 2u * lx + 1u]);
    mm_outer(acc, subgroupBroadcast(lo1, 3u), subgroupBroadcast(hi1, 3u), mm_b_tile[11u * MM_QUADS + 2u * lx], mm_b_tile[11u * MM_QUADS + 2u * lx + 1u]);
    mm_outer(acc, subgroupBroadcast(lo1, 4u), subgroupBroadcast(hi1, 4u), mm_b_tile[12u * MM_QUADS + 2u * lx], mm_b_tile[12u * MM_QUADS + 2u * lx + 1u]);
    mm_outer(acc, subgroupBroadcast(lo1, 5u), subgroupBroadcast(hi1, 5u), mm_b_tile[13u * MM_QUADS + 2u * lx], mm_b_tile[13u * MM_QUADS + 2u * lx + 1u]);
    mm_outer(acc, subgroupBroadcast(lo1, 6u), subgroupBroadcast(hi1, 6u), mm_b_tile[14u * MM_QUADS + 2u * lx], mm_b_tile[14u * MM_QUADS + 2u * lx + 1u]);
    mm_outer(acc, subgroupBroadcast(lo1, 7u), subgroupBroadcast(hi1, 7u), mm_b_tile[15u * MM_QUADS + 2u * lx], mm_b_tile[15u * MM_QUADS + 2u * lx + 1u]);
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
