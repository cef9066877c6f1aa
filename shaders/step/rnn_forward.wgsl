// rnn_step_forward (see step/forward.wgsl): a quad is units col0..col0+3 of row `row`.

@compute @workgroup_size(MM_WG_X, MM_WG_Y, 1)
fn rnn_step_forward(inv: MmInvocation) {
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
        let at = p.gates_off + row * p.hidden + j;
        let pre = xw[at] + sums[i] + mm_b_elem(p.bias_off + j);
        xw[at] = pre;
        mm_set_a_elem(p.h_off + row * p.hidden + j, rnn_activate(pre, p.activation));
    }
}
