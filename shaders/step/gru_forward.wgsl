// gru_step_forward (see step/forward.wgsl): a quad is gates (r, z, n, n again) of unit col0 / 4.

@group(0) @binding(4) var<storage, read_write> hw: array<f32>;

@compute @workgroup_size(MM_WG_X, MM_WG_Y, 1)
fn gru_step_forward(inv: MmInvocation) {
    mm_run(inv);
}

fn mm_epilogue(row: u32, col0: u32, sums: vec4<f32>) {
    let hidden = p.hidden;
    let j = col0 / 4u;
    if row >= p.m || j >= hidden {
        return;
    }
    let bias = p.bias_off + j;
    let col = row * 3u * hidden + j;
    let h = sums.xyz + vec3<f32>(mm_b_elem(bias), mm_b_elem(bias + hidden), mm_b_elem(bias + 2u * hidden));
    let hat = p.hw_off + col;
    hw[hat] = h.x;
    hw[hat + hidden] = h.y;
    hw[hat + 2u * hidden] = h.z;
    let at = p.gates_off + col;
    let out = gru_forward(vec3<f32>(xw[at], xw[at + hidden], xw[at + 2u * hidden]), h, mm_a_elem(p.h_prev_off + row * hidden + j));
    xw[at] = out.act.x;
    xw[at + hidden] = out.act.y;
    xw[at + 2u * hidden] = out.act.z;
    mm_set_a_elem(p.h_off + row * hidden + j, out.h);
}
