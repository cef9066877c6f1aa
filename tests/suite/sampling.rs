//! Generation on the device: the draw follows softmax(z / τ) (within top-k),
//! both backends draw the same tokens, and chunking, batching and carrying
//! the state across calls change nothing but speed.

use rnn_wgpu::plan::{Elem, Op, Plan, SAMPLE_CONTROL_HEADER, Section};
use rnn_wgpu::{
    Block, BufferInit, Cell, Device, Model, ModelConfig, Optimizer, Sampler, TrainConfig, Trainer, Vocab, run_plan,
};

use super::common::{backends, gpu};

/// One `sample_next` over `rows` copies of `logits`; returns the drawn ids
/// (through the float `samples` buffer) on `device`.
fn draw(device: &Device, logits: &[f32], rows: usize, choice: [u32; 3], forced: u32) -> Vec<u32> {
    let [top_k, temperature_bits, greedy] = choice;
    let classes = logits.len();
    let mut plan = Plan::default();
    let tokens = plan.buffer("tokens", rows, Elem::Id);
    let samples = plan.buffer("samples", rows, Elem::Float);
    let logits_view = plan.buffer("logits", rows * classes, Elem::Float);
    let control = plan.buffer("control", SAMPLE_CONTROL_HEADER + rows, Elem::Id);
    plan.push(Section::Forward, Op::SampleNext { tokens, samples, logits: logits_view, control, step: 3, classes });
    let mut words = vec![0u32; SAMPLE_CONTROL_HEADER + rows];
    words[..5].copy_from_slice(&[77, 1000, top_k, temperature_bits, greedy]);
    // Every 10th row is forced (keeps the id 1 written below) when `forced` > 3.
    for r in (0..rows).step_by(10) {
        words[SAMPLE_CONTROL_HEADER + r] = forced;
    }
    let init = vec![
        BufferInit::Id(vec![1; rows]),
        BufferInit::Float(vec![-1.0; rows]),
        BufferInit::Float(logits.iter().copied().cycle().take(rows * classes).collect()),
        BufferInit::Id(words),
    ];
    let out = run_plan(device, &plan, &init).unwrap();
    out[1].iter().map(|&x| x as u32).collect()
}

fn frequencies(ids: &[u32], classes: usize) -> Vec<f64> {
    let mut f = vec![0.0; classes];
    for &i in ids {
        f[i as usize] += 1.0 / ids.len() as f64;
    }
    f
}

#[test]
fn draws_follow_the_tempered_softmax_within_top_k_on_both_backends() {
    const ROWS: usize = 40_000;
    let logits = [0.5f32, 2.0, -1.0, 1.0, 2.0, -3.0, 0.0];
    for device in backends() {
        for (temperature, top_k) in [(1.0f32, 0u32), (0.5, 0), (2.0, 3)] {
            let ids = draw(&device, &logits, ROWS, [top_k, temperature.to_bits(), 0], 0);
            // Expected: softmax(z / τ) over the top_k largest (ties by lower id).
            let mut order: Vec<usize> = (0..logits.len()).collect();
            order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
            let keep = if top_k == 0 { logits.len() } else { top_k as usize };
            let mut want = vec![0.0f64; logits.len()];
            for &i in &order[..keep] {
                want[i] = ((logits[i] - 2.0) as f64 / temperature as f64).exp();
            }
            let total: f64 = want.iter().sum();
            let got = frequencies(&ids, logits.len());
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                // 40 000 draws: one standard deviation of a frequency is ≤ 0.0025; allow 4.
                let w = w / total;
                assert!((g - w).abs() < 0.01, "{} τ={temperature} k={top_k} class {i}: {g} vs {w}", device.name());
            }
        }
    }
}

#[test]
fn gpu_draws_the_cpu_tokens_and_keeps_forced_ones() {
    let Some(gpu) = gpu() else { return };
    let logits: Vec<f32> = (0..65).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.7).collect();
    // top_k 5, 1 and 64 of 65 classes over 11 distinct values: every boundary sits in a tie.
    let choices = [[5, 0.8f32.to_bits(), 0], [1, 1.0f32.to_bits(), 0], [64, 1.5f32.to_bits(), 0]];
    for choice in [[0, 1.0f32.to_bits(), 0], [0, 1.0f32.to_bits(), 1]].into_iter().chain(choices) {
        let cpu = draw(&Device::cpu(), &logits, 5000, choice, 4);
        let got = draw(&gpu, &logits, 5000, choice, 4);
        // Both draw from the same counter-based uniforms; only an exp rounded
        // differently right at a boundary could flip a draw.
        let differ = cpu.iter().zip(&got).filter(|(a, b)| a != b).count();
        assert!(differ <= 2, "{choice:?}: {differ} of 5000 draws differ");
        assert!(cpu.iter().step_by(10).all(|&id| id == 1), "forced rows keep their token");
        assert!(got.iter().step_by(10).all(|&id| id == 1), "forced rows keep their token (GPU)");
    }
}

fn model(device: &Device, cell: Cell, vocab: &Vocab) -> Model {
    Model::new(device, &ModelConfig::char_lm(cell, 2, 24, vocab.len()), 11).unwrap()
}

#[test]
fn chunking_batching_and_carrying_state_do_not_change_the_text() {
    let vocab = Vocab::from_text("abcdefgh ").unwrap();
    for device in backends() {
        for cell in [Cell::RnnTanh, Cell::Lstm, Cell::Gru] {
            let m = model(&device, cell, &vocab);
            let name = format!("{} {cell:?}", device.name());
            let sampler = |chunk: usize| Sampler::new(&m, &vocab).unwrap().seed(5).chunk(chunk).unwrap();
            let whole = sampler(32).generate("abc", 40).unwrap();
            assert_eq!(whole.chars().count(), 40, "{name}");
            assert_eq!(sampler(1).generate("abc", 40).unwrap(), whole, "{name}: one step per submit");
            assert_eq!(sampler(7).generate("abc", 40).unwrap(), whole, "{name}: chunks of 7");
            // Two calls continue the state and the random stream: the second call
            // feeds the first call's last character.
            let mut split = sampler(7);
            let first = split.generate("abc", 15).unwrap();
            let last = first.chars().last().unwrap().to_string();
            let second = split.generate(&last, 25).unwrap();
            assert_eq!(format!("{first}{second}"), whole, "{name}: carried across calls");
            let mut streams = Sampler::with_streams(&m, &vocab, 3).unwrap().greedy();
            let texts = streams.generate_streams(&["abc", "abc", "hhh"], 20).unwrap();
            let alone = Sampler::new(&m, &vocab).unwrap().greedy().generate("hhh", 20).unwrap();
            assert_eq!(texts[0], texts[1], "{name}: same prime, same greedy text");
            assert_eq!(texts[2], alone, "{name}: a stream generates as if alone");
        }
    }
}

#[test]
fn a_sampler_uses_weights_written_after_its_last_call() {
    // The CPU backend keeps a sampler's packed W_hh and its W_ih token table
    // from call to call while nothing writes the weights; a write by the host
    // (`set_params`) or by a trainer's update must reach the next call.
    let vocab = Vocab::from_text("abcdefgh ").unwrap();
    for device in backends() {
        for cell in [Cell::RnnTanh, Cell::Lstm, Cell::Gru] {
            let name = format!("{} {cell:?}", device.name());
            let mut m = model(&device, cell, &vocab);
            let greedy = |m: &Model| Sampler::new(m, &vocab).unwrap().greedy().generate("ab", 30).unwrap();
            let mut sampler = Sampler::new(&m, &vocab).unwrap().greedy();
            let first = sampler.generate("ab", 30).unwrap();
            let other = Model::new(&device, m.config(), 12).unwrap().params().unwrap();
            m.set_params(&other).unwrap();
            sampler.reset().unwrap();
            let after_set = sampler.generate("ab", 30).unwrap();
            assert_eq!(after_set, greedy(&m), "{name}: after set_params, as a new sampler");
            assert_ne!(after_set, first, "{name}: the two weight sets give one text, so this shows nothing");

            let config = TrainConfig { batch: 2, bptt: 4, optimizer: Optimizer::adam(0.05), clip_norm: None, seed: 1 };
            let mut trainer = Trainer::new(m, config).unwrap();
            let block = Block::new(4, 2, vec![0, 1, 2, 3, 4, 5, 6, 7], vec![1, 2, 3, 4, 5, 6, 7, 0]).unwrap();
            for _ in 0..5 {
                trainer.step(&block).unwrap();
            }
            sampler.reset().unwrap();
            let after_steps = sampler.generate("ab", 30).unwrap();
            assert_eq!(after_steps, greedy(trainer.model()), "{name}: after training steps, as a new sampler");
            assert_ne!(after_steps, after_set, "{name}: training did not change the text, so this shows nothing");
        }
    }
}

#[test]
fn greedy_text_is_the_same_on_both_backends_and_reset_restarts_it() {
    let Some(gpu) = gpu() else { return };
    let vocab = Vocab::from_text("abcdefgh ").unwrap();
    for cell in [Cell::RnnTanh, Cell::Lstm, Cell::Gru] {
        let on = |device: &Device| {
            let m = model(device, cell, &vocab);
            let mut s = Sampler::new(&m, &vocab).unwrap().greedy();
            let a = s.generate("ab", 30).unwrap();
            s.reset().unwrap();
            (a, s.generate("ab", 30).unwrap())
        };
        let (cpu, cpu_again) = on(&Device::cpu());
        let (gpu_text, _) = on(&gpu);
        assert_eq!(cpu_again, cpu, "{cell:?}: reset clears h and c");
        assert_eq!(gpu_text, cpu, "{cell:?}: greedy text on the GPU");
    }
}

#[test]
fn bad_sampling_requests_are_errors() {
    let vocab = Vocab::from_text("abc").unwrap();
    let m = model(&Device::cpu(), Cell::Lstm, &vocab);
    let mut streams = Sampler::with_streams(&m, &vocab, 2).unwrap();
    assert!(streams.generate("a", 3).is_err(), "generate on two streams");
    assert!(streams.generate_streams(&["a"], 3).is_err(), "one prime for two streams");
    assert!(streams.generate_streams(&["a", "ab"], 3).is_err(), "primes of different lengths");
    assert!(streams.generate_streams(&["a", "z"], 3).is_err(), "a character outside the vocabulary");
    assert!(streams.generate_streams(&["", ""], 3).is_err(), "empty primes");
    assert!(Sampler::with_streams(&m, &vocab, 0).is_err(), "no streams");
    assert!(Sampler::new(&m, &vocab).unwrap().chunk(0).is_err(), "empty chunks");
    assert!(Sampler::new(&m, &vocab).unwrap().temperature(0.0).is_err(), "zero temperature");
}

/// A dense model's forecast equals what the evaluator's forward pass
/// predicts when the forecast itself is fed in as input (teacher forcing on
/// its own outputs), on both backends and across the two backends.
#[test]
fn forecasts_feed_predictions_back_like_a_forward_pass_over_them() {
    use rnn_wgpu::{Block, Evaluator, Forecaster, Head, Inputs, Targets};
    let (features, streams, p, k) = (3, 2, 4, 5);
    let config = ModelConfig::dense(Cell::Lstm, 2, 12, features, Head::Linear { outputs: features });
    let prime = super::common::random_values(p * streams * features, 1.0, 31);
    let mut forecasts = Vec::new();
    for device in backends() {
        let model = Model::new(&device, &config, 3).unwrap();
        let mut forecaster = Forecaster::new(&model, streams).unwrap();
        let predicted = forecaster.generate(&prime, k).unwrap();
        assert_eq!(predicted.len(), k * streams * features);
        // The whole sequence the forecaster consumed: the prime, then its predictions but the last.
        let steps = p + k - 1;
        let mut inputs = prime.clone();
        inputs.extend_from_slice(&predicted[..(k - 1) * streams * features]);
        let targets = Targets::Values(vec![0.0; steps * streams * features]);
        let block = Block::with(steps, streams, Inputs::Dense(inputs), targets).unwrap();
        let mut eval = Evaluator::new(&model, streams, steps).unwrap();
        eval.evaluate([&block]).unwrap();
        let outputs = eval.head_outputs().unwrap();
        let name = device.name();
        super::common::assert_close(
            &format!("{name}: forecast vs forward pass"),
            &predicted,
            &outputs[(p - 1) * streams * features..],
            super::common::BALANCED,
        );
        // Split in two calls, the state carries on: the second call's prime is the
        // first call's last prediction.
        let mut split = Forecaster::new(&model, streams).unwrap();
        let first = split.generate(&prime, 2).unwrap();
        let second = split.generate(&first[streams * features..], k - 2).unwrap();
        let joined: Vec<f32> = first.iter().chain(&second).copied().collect();
        super::common::assert_close(&format!("{name}: split forecast"), &joined, &predicted, super::common::BALANCED);
        forecasts.push(predicted);
    }
    if let [cpu, gpu] = &forecasts[..] {
        super::common::assert_close("GPU vs CPU forecast", gpu, cpu, super::common::BALANCED);
    }
}

#[test]
fn generation_starts_from_a_set_state_and_refuses_bad_ones() {
    use rnn_wgpu::{Forecaster, Head};
    let vocab = Vocab::from_text("abcdefgh ").unwrap();
    for device in backends() {
        let m = model(&device, Cell::Gru, &vocab);
        let state = super::common::random_values(2 * 24, 0.8, 4);
        let from = |state: Option<&[f32]>| {
            let mut s = Sampler::new(&m, &vocab).unwrap().greedy();
            if let Some(h) = state {
                s.set_state(h, None).unwrap();
            }
            s.generate("ab", 30).unwrap()
        };
        assert_ne!(from(Some(&state)), from(None), "{}: the set state changes the text", device.name());
        assert_eq!(from(Some(&state)), from(Some(&state)), "{}: and deterministically", device.name());
        let mut s = Sampler::new(&m, &vocab).unwrap();
        assert!(s.set_state(&state[..47], None).is_err(), "short state");
        assert!(s.set_state(&state, Some(&state)).is_err(), "c for a GRU");
        assert!(s.set_state(&[f32::NAN; 48], None).is_err(), "NaN state");
    }
    let dense = ModelConfig::dense(Cell::Gru, 1, 4, 3, Head::Linear { outputs: 3 });
    let m = Model::new(&Device::cpu(), &dense, 1).unwrap();
    let mut f = Forecaster::new(&m, 2).unwrap();
    assert!(f.generate(&[0.5; 5], 3).is_err(), "prime not a whole number of steps");
    assert!(f.generate(&[], 3).is_err(), "empty prime");
    let classifier = ModelConfig::dense(Cell::Gru, 1, 4, 3, Head::Sigmoid { outputs: 3 });
    assert!(Forecaster::new(&Model::new(&Device::cpu(), &classifier, 1).unwrap(), 1).is_err(), "sigmoid head");
    let wide = ModelConfig::dense(Cell::Gru, 1, 4, 3, Head::Linear { outputs: 2 });
    assert!(Forecaster::new(&Model::new(&Device::cpu(), &wide, 1).unwrap(), 1).is_err(), "outputs != features");
}
