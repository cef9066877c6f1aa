// matmul_core_subgroup: the core of the matmul tile contract (see
// matmul_tile.wgsl) for adapters with wgpu's Features::SUBGROUP; the same
// tiles, grid and results as matmul_core.wgsl, only the inner chunk differs.
//
// The k-broadcast: when the subgroup has exactly 8 lanes, invocation (lane,
// subgroup) plays (lx, ly), so the 8 lanes of a subgroup share their 8 rows
// of op(A). Lane lx then reads the rows at k step 8h + lx only (2 vec4s), and
// subgroupBroadcast(·, kk) hands every lane the rows at step 8h + kk: op(A)
// costs 2 workgroup loads per 8 k steps instead of 2 per step. A broadcast
// from a constant lane is a register move on SIMD compilers (llvmpipe), where
// each load is a per-lane loop. With any other subgroup size (4..128, read
// from the subgroup_size builtin) the kernel reads op(A) from workgroup memory
// like the portable one; WGSL requires a constant broadcast lane, so the
// 8-lane layout is the only one written out. The size is uniform, so every
// subgroup takes one branch and the broadcasts run with all lanes active.
// (naga 30 rejects `enable subgroups;`; the builtins need only the feature.)

struct MmInvocation {
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(subgroup_size) subgroup_size: u32,
    @builtin(subgroup_id) subgroup_id: u32,
    @builtin(subgroup_invocation_id) lane: u32,
}

fn mm_run(inv: MmInvocation) {
    let tile_row = (inv.wid.z * inv.nwg.y + inv.wid.y) * TILE;
    let tile_col = inv.wid.x * TILE;
    let bases = tile_bases(tile_row, tile_col, inv.li);
    let broadcast = inv.subgroup_size == 8u;
    // 8-lane subgroups: (lx, ly) = (lane, subgroup); otherwise the portable layout.
    var lx = inv.li % 8u;
    var ly = inv.li / 8u;
    if broadcast {
        lx = inv.lane;
        ly = inv.subgroup_id;
    }
    var acc: Block;
    for (var k0 = 0u; k0 < p.k; k0 += KC) {
        workgroupBarrier();
        stage_tiles(k0, inv.li, bases);
        workgroupBarrier();
        if broadcast {
            chunk_broadcast(&acc, lx, ly);
        } else {
            chunk_from_tiles(&acc, lx, ly);
        }
    }
    finish_block(&acc, tile_row + 8u * ly, tile_col + 8u * lx);
}

/// All KC staged steps of lane lx of an 8-lane subgroup whose lanes share rows
/// 8*ly..8*ly+7: op(A) at step 8h + kk comes from lane kk (the k-broadcast).
fn chunk_broadcast(acc: ptr<function, Block>, lx: u32, ly: u32) {
    let lo0 = a_tile[(0u + lx) * QUADS + 2u * ly];
    let hi0 = a_tile[(0u + lx) * QUADS + 2u * ly + 1u];
    outer(acc, subgroupBroadcast(lo0, 0u), subgroupBroadcast(hi0, 0u), b_tile[0u * QUADS + 2u * lx], b_tile[0u * QUADS + 2u * lx + 1u]);
    outer(acc, subgroupBroadcast(lo0, 1u), subgroupBroadcast(hi0, 1u), b_tile[1u * QUADS + 2u * lx], b_tile[1u * QUADS + 2u * lx + 1u]);
    outer(acc, subgroupBroadcast(lo0, 2u), subgroupBroadcast(hi0, 2u), b_tile[2u * QUADS + 2u * lx], b_tile[2u * QUADS + 2u * lx + 1u]);
    outer(acc, subgroupBroadcast(lo0, 3u), subgroupBroadcast(hi0, 3u), b_tile[3u * QUADS + 2u * lx], b_tile[3u * QUADS + 2u * lx + 1u]);
    outer(acc, subgroupBroadcast(lo0, 4u), subgroupBroadcast(hi0, 4u), b_tile[4u * QUADS + 2u * lx], b_tile[4u * QUADS + 2u * lx + 1u]);
    outer(acc, subgroupBroadcast(lo0, 5u), subgroupBroadcast(hi0, 5u), b_tile[5u * QUADS + 2u * lx], b_tile[5u * QUADS + 2u * lx + 1u]);
    outer(acc, subgroupBroadcast(lo0, 6u), subgroupBroadcast(hi0, 6u), b_tile[6u * QUADS + 2u * lx], b_tile[6u * QUADS + 2u * lx + 1u]);
    outer(acc, subgroupBroadcast(lo0, 7u), subgroupBroadcast(hi0, 7u), b_tile[7u * QUADS + 2u * lx], b_tile[7u * QUADS + 2u * lx + 1u]);
    let lo1 = a_tile[(8u + lx) * QUADS + 2u * ly];
    let hi1 = a_tile[(8u + lx) * QUADS + 2u * ly + 1u];
    outer(acc, subgroupBroadcast(lo1, 0u), subgroupBroadcast(hi1, 0u), b_tile[8u * QUADS + 2u * lx], b_tile[8u * QUADS + 2u * lx + 1u]);
    outer(acc, subgroupBroadcast(lo1, 1u), subgroupBroadcast(hi1, 1u), b_tile[9u * QUADS + 2u * lx], b_tile[9u * QUADS + 2u * lx + 1u]);
    outer(acc, subgroupBroadcast(lo1, 2u), subgroupBroadcast(hi1, 2u), b_tile[10u * QUADS + 2u * lx], b_tile[10u * QUADS + 2u * lx + 1u]);
    outer(acc, subgroupBroadcast(lo1, 3u), subgroupBroadcast(hi1, 3u), b_tile[11u * QUADS + 2u * lx], b_tile[11u * QUADS + 2u * lx + 1u]);
    outer(acc, subgroupBroadcast(lo1, 4u), subgroupBroadcast(hi1, 4u), b_tile[12u * QUADS + 2u * lx], b_tile[12u * QUADS + 2u * lx + 1u]);
    outer(acc, subgroupBroadcast(lo1, 5u), subgroupBroadcast(hi1, 5u), b_tile[13u * QUADS + 2u * lx], b_tile[13u * QUADS + 2u * lx + 1u]);
    outer(acc, subgroupBroadcast(lo1, 6u), subgroupBroadcast(hi1, 6u), b_tile[14u * QUADS + 2u * lx], b_tile[14u * QUADS + 2u * lx + 1u]);
    outer(acc, subgroupBroadcast(lo1, 7u), subgroupBroadcast(hi1, 7u), b_tile[15u * QUADS + 2u * lx], b_tile[15u * QUADS + 2u * lx + 1u]);
}
