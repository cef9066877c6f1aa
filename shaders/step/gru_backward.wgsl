// gru_step_backward (see step/backward.wgsl).

@group(0) @binding(4) var<storage, read_write> dxw: array<f32>;
@group(0) @binding(5) var<storage, read_write> xw: array<f32>;
@group(0) @binding(6) var<storage, read_write> hw: array<f32>;
@group(0) @binding(7) var<storage, read_write> hs: array<f32>;

@compute @workgroup_size(MM_WG_X, MM_WG_Y, 1)
fn gru_step_backward(inv: MmInvocation) {
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
        let col = row * 3u * hidden + j;
        let gat = p.gates_off + col;
        let act = vec3<f32>(xw[gat], xw[gat + hidden], xw[gat + 2u * hidden]);
        let out = gru_backward(act, hw[p.hw_off + col + 2u * hidden], hs[p.h_off + at], grad);
        let xat = p.dxw_off + col;
        dxw[xat] = out.dxw.x;
        dxw[xat + hidden] = out.dxw.y;
        dxw[xat + 2u * hidden] = out.dxw.z;
        let hat = p.dhw_off + col;
        mm_set_a_elem(hat, out.dhw.x);
        mm_set_a_elem(hat + hidden, out.dhw.y);
        mm_set_a_elem(hat + 2u * hidden, out.dhw.z);
        if p.has_dh_prev != 0u {
            dh[p.dh_prev_off + at] += out.dh_prev;
        }
    }
}
