//! References people quote (handoffs `HO-…`, complaints `CO-…`): a prefix
//! and eight characters of an alphabet without look-alikes (no 0/O, 1/I).

const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// A fresh random reference, e.g. `HO-7KQ2-M9XD`.
pub fn new(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    // 32 symbols: a byte modulo 32 is uniform.
    let code: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("{prefix}-{}-{}", &code[..4], &code[4..])
}

#[cfg(test)]
mod tests {
    #[test]
    fn references_are_short_distinct_and_unambiguous() {
        let a = super::new("HO");
        assert_eq!(a.len(), 12);
        assert!(a.starts_with("HO-"));
        assert!(!a[3..].contains(['0', 'O', '1', 'I']), "{a}");
        assert_ne!(a, super::new("HO"));
    }
}
