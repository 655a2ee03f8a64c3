//! Text normalisation shared by training and answering.
//!
//! `normalise` lowercases (Unicode-aware), expands common English
//! contractions, turns every character that is not a letter or digit into a
//! word break and collapses whitespace. The result is a space-separated list
//! of words; `tokens` splits it.

/// Lowercase, expand contractions, strip punctuation, collapse whitespace.
pub fn normalise(input: &str) -> String {
    let lower = input.to_lowercase();
    let mut out = String::with_capacity(lower.len() + 8);
    // A raw word is a run of letters/digits/apostrophes; anything else breaks.
    for raw in lower.split(|c: char| !(c.is_alphanumeric() || is_apostrophe(c))) {
        if raw.is_empty() {
            continue;
        }
        let word: String = raw
            .chars()
            .map(|c| if is_apostrophe(c) { '\'' } else { c })
            .collect();
        let word = word.trim_matches('\'');
        if word.is_empty() {
            continue;
        }
        expand_contraction(word, &mut out);
    }
    out
}

/// Words of an already normalised string.
pub fn tokens(normalised: &str) -> Vec<&str> {
    normalised.split(' ').filter(|w| !w.is_empty()).collect()
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '`' | '\u{00b4}')
}

fn push_word(out: &mut String, w: &str) {
    // Remove any apostrophe left inside the word ("o'clock" -> "oclock").
    let mut first = true;
    for part in w.split('\'').filter(|p| !p.is_empty()) {
        if first {
            if !out.is_empty() {
                out.push(' ');
            }
            first = false;
        }
        out.push_str(part);
    }
}

fn expand_contraction(word: &str, out: &mut String) {
    let special = match word {
        "won't" => Some("will not"),
        "can't" => Some("can not"),
        "cannot" => Some("can not"),
        "shan't" => Some("shall not"),
        "ain't" => Some("is not"),
        "let's" => Some("let us"),
        "i'm" => Some("i am"),
        "y'all" => Some("you all"),
        _ => None,
    };
    if let Some(s) = special {
        for w in s.split(' ') {
            push_word(out, w);
        }
        return;
    }
    const IS_WORDS: [&str; 11] = [
        "it", "what", "that", "there", "he", "she", "who", "where", "how", "here", "when",
    ];
    let suffixes: [(&str, &str); 6] = [
        ("n't", "not"),
        ("'re", "are"),
        ("'ve", "have"),
        ("'ll", "will"),
        ("'d", "would"),
        ("'m", "am"),
    ];
    for (suf, exp) in suffixes {
        if let Some(stem) = word.strip_suffix(suf)
            && !stem.is_empty()
        {
            push_word(out, stem);
            push_word(out, exp);
            return;
        }
    }
    if let Some(stem) = word.strip_suffix("'s")
        && !stem.is_empty()
    {
        push_word(out, stem);
        if IS_WORDS.contains(&stem) {
            push_word(out, "is");
        }
        return;
    }
    push_word(out, word);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_and_strips_punctuation() {
        assert_eq!(normalise("Hello, World!!"), "hello world");
        assert_eq!(
            normalise("  How long -- does it take?? "),
            "how long does it take"
        );
        assert_eq!(normalise("e-mail/phone"), "e mail phone");
        assert_eq!(normalise(""), "");
        assert_eq!(normalise("?!..."), "");
    }

    #[test]
    fn unicode_aware() {
        assert_eq!(normalise("ÉCOLE Straße"), "école straße");
        assert_eq!(normalise("Don\u{2019}t"), "do not");
        assert_eq!(normalise("£5,000 loan"), "5 000 loan");
    }

    #[test]
    fn expands_contractions() {
        assert_eq!(normalise("What's the rate?"), "what is the rate");
        assert_eq!(normalise("I can't log in"), "i can not log in");
        assert_eq!(normalise("won't, shouldn't"), "will not should not");
        assert_eq!(normalise("I'm sure we've paid"), "i am sure we have paid");
        assert_eq!(normalise("the company's director"), "the company director");
        assert_eq!(normalise("'quoted'"), "quoted");
    }

    #[test]
    fn tokens_split() {
        assert_eq!(tokens("a bc d"), vec!["a", "bc", "d"]);
        assert!(tokens("").is_empty());
    }
}
