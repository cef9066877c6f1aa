// lstm_step_forward (see step/forward.wgsl): a quad is gates (i, f, g, o) of unit col0 / 4.

@group(0) @binding(4) var<storage, read_write> cs: array<f32>;

@compute @workgroup_size(MM_WG_X, MM_WG_Y, 1)
fn lstm_step_forward(inv: MmInvocation) {
    mm_run(inv);
}

fn mm_epilogue(row: u32, col0: u32, sums: vec4<f32>) {
    let hidden = p.hidden;
    let j = col0 / 4u;
    if row >= p.m || j >= hidden {
        return;
    }
    let bias = p.bias_off + j;
    let at = p.gates_off + row * 4u * hidden + j;
    let pre = sums + vec4<f32>(xw[at], xw[at + hidden], xw[at + 2u * hidden], xw[at + 3u * hidden])
        + vec4<f32>(mm_b_elem(bias), mm_b_elem(bias + hidden), mm_b_elem(bias + 2u * hidden), mm_b_elem(bias + 3u * hidden));
    let out = lstm_forward(pre, cs[p.c_prev_off + row * hidden + j]);
    xw[at] = out.act.x;
    xw[at + hidden] = out.act.y;
    xw[at + 2u * hidden] = out.act.z;
    xw[at + 3u * hidden] = out.act.w;
    cs[p.c_off + row * hidden + j] = out.c;
    mm_set_a_elem(p.h_off + row * hidden + j, out.h);
}
