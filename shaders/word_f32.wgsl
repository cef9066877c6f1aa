// A storage word of one f32: the header of the kernels that read or write a
// view in words (column_sum.wgsl, embed_forward in embed.wgsl). Its twin,
// word_vec4.wgsl, makes a word four elements for views in aligned quads.
alias Word = f32;
const WORD: u32 = 1u;

/// Element e (< WORD) of word w.
fn word_elem(w: Word, e: u32) -> f32 {
    return w;
}

/// Word w with element e (< WORD) set to v.
fn word_with(w: Word, e: u32, v: f32) -> Word {
    return v;
}
