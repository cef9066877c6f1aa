//! Analytic gradients of the CPU backend, in f64, against central finite
//! differences of the loss, for every parameter tensor of every cell kind.

use rnn_wgpu::reference::loss_and_gradients;
use rnn_wgpu::{Cell, ParamLayout};

use super::common::{random_block, random_values, small};

/// Central differences with h = 1e-6 in f64: truncation error ~h²·|L'''| and
/// round-off ~1e-16·|L|/h are both below 1e-9, so 1e-6 relative (1e-8
/// absolute) separates a wrong gradient from a right one by orders of magnitude.
const H: f64 = 1e-6;
const REL: f64 = 1e-6;
const ABS: f64 = 1e-8;

fn check(cell: Cell) {
    let config = small(cell, 2, 5, 7);
    let layout = ParamLayout::new(&config);
    let params: Vec<f64> = layout.init(config.hidden, 3).iter().map(|&x| x as f64 * 2.0).collect();
    let block = random_block(4, 3, 7, 11);
    // A non-zero carried state, so the gradient through h_0 is exercised.
    let state: Vec<f64> = random_values(2 * 3 * 5, 0.5, 5).iter().map(|&x| x as f64).collect();
    let (_, grads, _) = loss_and_gradients(&config, &params, &block, Some(&state)).unwrap();
    for tensor in layout.tensors() {
        let mut worst = 0.0f64;
        for i in tensor.range() {
            let mut p = params.clone();
            p[i] = params[i] + H;
            let up = loss_and_gradients(&config, &p, &block, Some(&state)).unwrap().0;
            p[i] = params[i] - H;
            let down = loss_and_gradients(&config, &p, &block, Some(&state)).unwrap().0;
            let numeric = (up - down) / (2.0 * H);
            let err = (grads[i] - numeric).abs();
            assert!(
                err <= ABS + REL * numeric.abs(),
                "{:?} {}[{}]: analytic {} vs numeric {} (tolerance rel {REL} abs {ABS})",
                cell,
                tensor.name,
                i - tensor.offset,
                grads[i],
                numeric
            );
            worst = worst.max(err / (ABS + numeric.abs()));
        }
        eprintln!("{cell:?} {:>14}: worst relative error {worst:.2e}", tensor.name);
    }
}

#[test]
fn cpu_rnn_tanh_gradients_match_finite_differences() {
    check(Cell::RnnTanh);
}

#[test]
fn cpu_rnn_relu_gradients_match_finite_differences() {
    check(Cell::RnnRelu);
}
