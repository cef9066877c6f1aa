// A storage word of four f32s, for views whose rows start on a multiple of 4
// elements and are a multiple of 4 long (see word_f32.wgsl). On llvmpipe a
// storage access is a loop over the lanes, so one vec4 access costs about as
// much as two f32 ones.
alias Word = vec4<f32>;
const WORD: u32 = 4u;

/// Element e (< WORD) of word w.
fn word_elem(w: Word, e: u32) -> f32 {
    return w[e];
}

/// Word w with element e (< WORD) set to v.
fn word_with(w: Word, e: u32, v: f32) -> Word {
    var out = w;
    out[e] = v;
    return out;
}
