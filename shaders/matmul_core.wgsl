// matmul_core: the portable core of the matmul tile contract (see
// matmul_tile.wgsl): no optional feature. Invocation (lx, ly) = (li % 8,
// li / 8) owns the 8x8 block at rows 8*ly.., columns 8*lx.. of the tile, and
// reads every operand of the inner loop from workgroup memory.

struct MmInvocation {
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
}

fn mm_run(inv: MmInvocation) {
    let tile_row = (inv.wid.z * inv.nwg.y + inv.wid.y) * TILE;
    let tile_col = inv.wid.x * TILE;
    let bases = tile_bases(tile_row, tile_col, inv.li);
    let lx = inv.li % 8u;
    let ly = inv.li / 8u;
    var acc: Block;
    for (var k0 = 0u; k0 < p.k; k0 += KC) {
        workgroupBarrier();
        stage_tiles(k0, inv.li, bases);
        workgroupBarrier();
        chunk_from_tiles(&acc, lx, ly);
    }
    finish_block(&acc, tile_row + 8u * ly, tile_col + 8u * lx);
}
