//! What an operator's search for text in conversations becomes in each
//! database's dialect: a case-insensitive "anywhere in the message" whose
//! wildcards are the operator's letters, not the database's.

/// A `LIKE … ESCAPE '\'` pattern that finds `text` anywhere, its own `%`,
/// `_` and `\` taken literally.
pub(super) fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A `GLOB` pattern that finds `text` anywhere whatever its letters' case:
/// each letter a class of its cases, and `*`, `?` and `[` taken literally.
pub(super) fn glob_pattern(text: &str) -> String {
    let mut pattern = String::from("*");
    for c in text.chars() {
        // A case that is several letters (`ß` as `SS`) cannot be a class
        // member; `ς` and `σ` are both `Σ` upper-cased, so the upper case's
        // lower one joins too.
        let upper = single(c.to_uppercase());
        let mut cases: Vec<char> = [Some(c), single(c.to_lowercase()), upper]
            .into_iter()
            .chain([upper.and_then(|u| single(u.to_lowercase()))])
            .flatten()
            .collect();
        cases.sort_unstable();
        cases.dedup();
        if cases.len() > 1 || matches!(c, '*' | '?' | '[') {
            pattern.push('[');
            pattern.extend(cases);
            pattern.push(']');
        } else {
            pattern.push(c);
        }
    }
    pattern.push('*');
    pattern
}

/// The one letter `letters` holds, if it holds one.
fn single(mut letters: impl Iterator<Item = char>) -> Option<char> {
    letters.next().filter(|_| letters.next().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_takes_the_users_wildcards_literally() {
        assert_eq!(like_pattern(r"Loan_100%\"), r"%loan\_100\%\\%");
        assert_eq!(glob_pattern("1*2?[3]_%"), "*1[*]2[?][[]3]_%*");
    }

    #[test]
    fn a_sqlite_search_matches_each_letter_in_either_case_outside_ascii_too() {
        assert_eq!(glob_pattern("Zoë 1"), "*[Zz][Oo][Ëë] 1*");
        assert_eq!(glob_pattern("ÉTÉ"), "*[Éé][Tt][Éé]*");
        // One letter's cases that are several letters stay as written.
        assert_eq!(glob_pattern("ß"), "*ß*");
        assert_eq!(glob_pattern("ς"), "*[Σςσ]*");
        assert_eq!(glob_pattern("İ"), "*İ*");
    }
}
