//! Tokenizers: jieba word segmentation (Chinese words, English words lowercased) and CJK
//! bigrams (every pair of adjacent Chinese characters; English words lowercased), the second
//! so that words jieba's dictionary does not know are still found.

use std::sync::OnceLock;

use jieba_rs::Jieba;
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// The dictionary: the words of jieba's own dictionary (jieba-rs, MIT licence) used at least
/// five times in its corpus, 137,000 of 349,000, with their frequencies. Rarer words are left
/// to jieba's HMM and to the bigram field; the trimmed dictionary takes about 6 MB of memory
/// instead of about 30 MB, which keeps a node's idle memory small.
static DICT: &[u8] = include_bytes!("../data/dict.txt");

/// Loaded on first use (about 40 ms), so a node that has nothing to index and is not asked to
/// search does not pay for it.
fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(|| {
        Jieba::with_dict(&mut std::io::BufReader::new(DICT))
            .expect("the bundled dictionary parses (checked by the unit tests)")
    })
}

/// Chinese, Japanese and Korean characters (bigram-indexed).
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK Extension A
        | 0x4E00..=0x9FFF    // CJK Unified Ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK Compatibility Ideographs
        | 0x20000..=0x3134F) // CJK Extensions B–G
}

/// A word worth indexing: it holds a letter, digit or ideograph (not only punctuation or
/// spaces).
fn is_word(s: &str) -> bool {
    s.chars().any(char::is_alphanumeric)
}

/// Longest token kept (bytes); longer ones (hashes, base64 …) are noise.
const MAX_TOKEN_BYTES: usize = 64;

fn token(text: String, from: usize, to: usize, position: usize) -> Token {
    Token {
        offset_from: from,
        offset_to: to,
        position,
        text,
        position_length: 1,
    }
}

/// Words of `text` by jieba. `search_mode` (for indexing) adds the shorter dictionary words
/// inside long ones (财务系统 → 财务, 系统, 财务系统), so a query for a part finds the whole.
pub fn jieba_tokens(text: &str, search_mode: bool) -> Vec<Token> {
    let words = if search_mode {
        jieba().cut_for_search(text, true)
    } else {
        jieba().cut(text, true)
    };
    words
        .into_iter()
        .filter(|w| is_word(w.word) && w.word.len() <= MAX_TOKEN_BYTES)
        .enumerate()
        .map(|(i, w)| token(w.word.to_lowercase(), w.byte_start, w.byte_end, i))
        .collect()
}

/// CJK bigrams and lowercased other words, with consecutive positions (for phrase queries).
/// A lone CJK character between non-CJK text is one token of its own.
pub fn bigram_tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    // Current run: (kind, start byte, chars with their byte offsets).
    let mut run: Vec<(usize, char)> = Vec::new();
    let mut run_cjk = false;
    let flush = |run: &mut Vec<(usize, char)>, cjk: bool, out: &mut Vec<Token>| {
        if run.is_empty() {
            return;
        }
        let end_of = |i: usize| run[i].0 + run[i].1.len_utf8();
        if cjk {
            if run.len() == 1 {
                let p = out.len();
                out.push(token(run[0].1.to_string(), run[0].0, end_of(0), p));
            } else {
                for i in 0..run.len() - 1 {
                    let p = out.len();
                    let s: String = [run[i].1, run[i + 1].1].iter().collect();
                    out.push(token(s, run[i].0, end_of(i + 1), p));
                }
            }
        } else {
            let from = run[0].0;
            let to = end_of(run.len() - 1);
            let s: String = run
                .iter()
                .map(|(_, c)| *c)
                .collect::<String>()
                .to_lowercase();
            if s.len() <= MAX_TOKEN_BYTES {
                let p = out.len();
                out.push(token(s, from, to, p));
            }
        }
        run.clear();
    };
    for (i, c) in text.char_indices() {
        if is_cjk(c) {
            if !run_cjk {
                flush(&mut run, false, &mut out);
                run_cjk = true;
            }
            run.push((i, c));
        } else if c.is_alphanumeric() {
            if run_cjk {
                flush(&mut run, true, &mut out);
                run_cjk = false;
            }
            run.push((i, c));
        } else {
            flush(&mut run, run_cjk, &mut out);
        }
    }
    flush(&mut run, run_cjk, &mut out);
    out
}

/// A token stream over tokens computed up front.
pub struct VecTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl VecTokenStream {
    fn new(tokens: Vec<Token>) -> Self {
        Self { tokens, next: 0 }
    }
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

/// The index-time jieba tokenizer (search mode). Registered as [`JIEBA`].
#[derive(Clone, Default)]
pub struct JiebaTokenizer;

impl Tokenizer for JiebaTokenizer {
    type TokenStream<'a> = VecTokenStream;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        VecTokenStream::new(jieba_tokens(text, true))
    }
}

/// The bigram tokenizer. Registered as [`BIGRAM`].
#[derive(Clone, Default)]
pub struct BigramTokenizer;

impl Tokenizer for BigramTokenizer {
    type TokenStream<'a> = VecTokenStream;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        VecTokenStream::new(bigram_tokens(text))
    }
}

/// Tokenizer names in the schema.
pub const JIEBA: &str = "yw_jieba";
pub const BIGRAM: &str = "yw_bigram";

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(t: &[Token]) -> Vec<&str> {
        t.iter().map(|t| t.text.as_str()).collect()
    }

    #[test]
    fn jieba_segments_chinese_words() {
        let t = jieba_tokens("财务系统打印机无法连接网络", false);
        let words = texts(&t);
        for w in ["打印机", "无法", "连接", "网络"] {
            assert!(words.contains(&w), "{w} in {words:?}");
        }
        assert!(
            words.contains(&"财务系统") || (words.contains(&"财务") && words.contains(&"系统")),
            "{words:?}"
        );
        // Positions are consecutive ordinals, offsets point into the text.
        let s = "财务系统打印机无法连接网络";
        for (i, tok) in t.iter().enumerate() {
            assert_eq!(tok.position, i);
            assert_eq!(&s[tok.offset_from..tok.offset_to].to_lowercase(), &tok.text);
        }
    }

    #[test]
    fn search_mode_adds_the_words_inside_long_ones() {
        let words = jieba_tokens("财务系统打印机无法连接网络", true);
        let words = texts(&words);
        for w in ["财务", "系统", "打印机", "网络"] {
            assert!(words.contains(&w), "{w} in {words:?}");
        }
    }

    #[test]
    fn jieba_lowercases_english_and_drops_punctuation() {
        let t = jieba_tokens("VPN 无法登录，Outlook 报错!!", true);
        let words = texts(&t);
        assert!(words.contains(&"vpn"), "{words:?}");
        assert!(words.contains(&"outlook"), "{words:?}");
        assert!(words.contains(&"登录"), "{words:?}");
        assert!(!words
            .iter()
            .any(|w| w.trim().is_empty() || *w == "，" || *w == "!!"));
    }

    #[test]
    fn bigrams_cover_every_adjacent_pair() {
        let t = bigram_tokens("打印机卡纸");
        assert_eq!(texts(&t), vec!["打印", "印机", "机卡", "卡纸"]);
        assert_eq!(
            t.iter().map(|t| t.position).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
        assert_eq!(t[1].offset_from, "打".len());
        assert_eq!(t[1].offset_to, "打印机".len());
    }

    #[test]
    fn bigrams_keep_english_words_and_lone_characters() {
        let t = bigram_tokens("INC-2026-000123: VPN断线, 网 OK");
        assert_eq!(
            texts(&t),
            vec!["inc", "2026", "000123", "vpn", "断线", "网", "ok"]
        );
    }

    #[test]
    fn empty_and_punctuation_only_text_has_no_tokens() {
        assert!(bigram_tokens("").is_empty());
        assert!(bigram_tokens("，。!? --").is_empty());
        assert!(jieba_tokens("，。!? --", false).is_empty());
    }

    #[test]
    fn tokenizers_stream_the_same_tokens() {
        let mut tk = BigramTokenizer;
        let mut s = tk.token_stream("网络故障");
        let mut seen = Vec::new();
        while s.advance() {
            seen.push(s.token().text.clone());
        }
        assert_eq!(seen, vec!["网络", "络故", "故障"]);
        let mut tk = JiebaTokenizer;
        let mut s = tk.token_stream("网络故障");
        assert!(s.advance());
    }
}
