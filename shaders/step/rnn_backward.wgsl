// rnn_step_backward (see step/backward.wgsl).

@group(0) @binding(4) var<storage, read_write> hs: array<f32>;

@compute @workgroup_size(MM_WG_X, MM_WG_Y, 1)
fn rnn_step_backward(inv: MmInvocation) {
    mm_run(inv);
}

fn mm_epilogue(row: u32, col0: u32, sums: vec4<f32>) {
    if row >= p.m {
        return;
    }
    for (var i = 0u; i < 4u; i++) {
        let j = col0 + i;
        if j >= p.hidden {
            return;
        }
        let grad = complete_dh(row, j, sums[i]);
        let at = row * p.hidden + j;
        mm_set_a_elem(p.dxw_off + at, grad * rnn_slope(hs[p.h_off + at], p.activation));
    }
}
