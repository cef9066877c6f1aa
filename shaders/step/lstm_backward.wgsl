// lstm_step_backward (see step/backward.wgsl).

@group(0) @binding(4) var<storage, read_write> dc: array<f32>;
@group(0) @binding(5) var<storage, read_write> xw: array<f32>;
@group(0) @binding(6) var<storage, read_write> cs: array<f32>;

@compute @workgroup_size(MM_WG_X, MM_WG_Y, 1)
fn lstm_step_backward(inv: MmInvocation) {
    mm_run(inv);
}

fn mm_epilogue(row: u32, col0: u32, sums: vec4<f32>) {
    let hidden = p.hidden;
    if row >= p.m {
        return;
    }
    for (var i = 0u; i < 4u; i++) {
        let j = col0 + i;
        if j >= hidden {
            return;
        }
        let grad = complete_dh(row, j, sums[i]);
        let at = row * hidden + j;
        let gat = p.gates_off + row * 4u * hidden + j;
        let act = vec4<f32>(xw[gat], xw[gat + hidden], xw[gat + 2u * hidden], xw[gat + 3u * hidden]);
        let dc_at = p.dc_off + at;
        let out = lstm_backward(act, cs[p.c_off + at], cs[p.c_prev_off + at], grad, dc[dc_at]);
        let dat = p.dxw_off + row * 4u * hidden + j;
        mm_set_a_elem(dat, out.dpre.x);
        mm_set_a_elem(dat + hidden, out.dpre.y);
        mm_set_a_elem(dat + 2u * hidden, out.dpre.z);
        mm_set_a_elem(dat + 3u * hidden, out.dpre.w);
        dc[dc_at] = out.dc_prev;
    }
}
