//! The words an article is written about: the stems of its example
//! questions and title, which a follow-up must stay within to keep its topic
//! (`followup::covers`).

use std::collections::HashSet;

use super::kb::Article;
use super::text::{normalise, tokens};

/// Word stems ([`stem`]) of one article's example questions and title.
pub struct Vocab(HashSet<String>);

impl Vocab {
    /// Whether `stem` is one of these stems.
    pub fn contains(&self, stem: &str) -> bool {
        self.0.contains(stem)
    }

    pub fn of(a: &Article) -> Vocab {
        let mut stems = HashSet::new();
        for q in a.questions.iter().chain(std::iter::once(&a.title)) {
            for w in tokens(&normalise(q)) {
                stems.insert(stem(w).to_string());
            }
        }
        Vocab(stems)
    }
}

/// Words with the same first [`STEM_CHARS`] characters count as the same
/// word in `followup::covers` ("complain" / "complaint").
const STEM_CHARS: usize = 5;

/// Crude stem for `followup::covers`: without a plural `s` (words over three
/// letters), cut to [`STEM_CHARS`] characters.
pub fn stem(w: &str) -> &str {
    let w = match w.strip_suffix('s') {
        Some(s) if s.chars().count() >= 3 => s,
        _ => w,
    };
    match w.char_indices().nth(STEM_CHARS) {
        Some((end, _)) => &w[..end],
        None => w,
    }
}
