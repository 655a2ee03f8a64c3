//! Personal data out of visitors' words, before anything is written: each
//! e-mail address, phone number, payment card number, UK sort code and
//! account number, National Insurance number, IBAN and UK postcode becomes a
//! tag (`[email]`, `[phone]`, …). Amounts, dates, times, percentages and
//! durations are left alone.
//!
//! Where a shape is ambiguous the rule is written down:
//!
//! * numbers are found inside words too (`ref4111111111111111`,
//!   `acct87654321`), but never inside a longer number: a card number,
//!   phone number, sort code or account number has no digit next to it,
//!   nor a dot or dash with a digit beyond (`192.168.10.20` is no sort
//!   code);
//! * a card number is 13 to 19 digits (spaces, dashes or dots between
//!   groups) that pass the Luhn check; an IBAN passes its mod-97 check;
//! * a reference glued to letters that has a phone number's shape is taken
//!   for one (`APP01234567890` → `APP[phone]`): over-redacting is the safe
//!   side;
//! * a phone number starts with `+` or `0`: UK numbers (`0…`, `+44…`) have
//!   10 or 11 digits, others 8 to 15 (E.164), spaces, dashes, dots and
//!   brackets between;
//! * a sort code is `12-34-56`, `12 34 56` or `12.34.56` (one separator
//!   throughout); when it could also be a date (`12-05-24`), only with
//!   "sort code" just before it;
//! * an account number is 8 digits on their own, unless money is meant
//!   (`£12345678`, `12345678 pounds`);
//! * a postcode is a UK postcode's full shape (`SW1A 1AA`, `m1 1ae`).

use std::sync::LazyLock;

use regex::{Captures, Regex};

/// `text` with personal data replaced by tags (see the module docs).
pub fn redact(text: &str) -> String {
    let mut text = EMAIL.replace_all(text, "[email]").into_owned();
    text = IBAN
        .replace_all(&text, |c: &Captures| {
            // The pattern may run on into the next word ("… 32 paid"):
            // the longest valid IBAN that ends at a group's end counts.
            let found = &c[0];
            let mut ends = found
                .match_indices(' ')
                .map(|(i, _)| i)
                .chain(std::iter::once(found.len()));
            match ends.rfind(|&end| iban_valid(&found[..end])) {
                Some(end) => format!("[iban]{}", &found[end..]),
                None => found.to_owned(),
            }
        })
        .into_owned();
    text = replace_checked(&CARD, &text, "[card]", luhn_valid);
    text = NI_NUMBER.replace_all(&text, "[ni number]").into_owned();
    text = replace_checked(&PHONE, &text, "[phone]", phone_like);
    text = replace_each(&SORT_CODE, &text, |c| {
        let keyword = c.name("keyword").map_or("", |k| k.as_str());
        let code = c.name("code").expect("the pattern's group");
        (alone(&text, code) && (!keyword.is_empty() || !date_like(code.as_str())))
            .then(|| format!("{keyword}[sort code]"))
    });
    text = replace_each(&ACCOUNT, &text, |c| {
        let number = c.name("number").expect("the pattern's group");
        // Read from the text, not the match: a search that goes on inside
        // a rejected match must still see the currency sign before it.
        let before = &text[..number.start()];
        let before = before.strip_suffix(char::is_whitespace).unwrap_or(before);
        let money = before.ends_with(['£', '$', '€']) || c.name("unit").is_some();
        (!money && alone(&text, number)).then(|| "[account]".to_owned())
    });
    POSTCODE.replace_all(&text, "[postcode]").into_owned()
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[a-z0-9._%+\-']+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)+").expect("a valid pattern")
});

static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-z]{2}\d{2}(?:[ ]?[a-z0-9]{4}){2,7}(?:[ ]?[a-z0-9]{1,4})?\b")
        .expect("a valid pattern")
});

static CARD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d(?:[ .\-]?\d){12,18}").expect("a valid pattern"));

static NI_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-ceghj-tw-z]{2}[ ]?\d{2}[ ]?\d{2}[ ]?\d{2}[ ]?[a-d]\b")
        .expect("a valid pattern")
});

static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\+|\(\+?|0)[\d(][\d\s().\-]{6,20}\d").expect("a valid pattern")
});

static SORT_CODE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?P<keyword>sort\s*code\s*(?:is\s*|:\s*)?)?(?P<code>\d{2}(?:-\d{2}-| \d{2} |\.\d{2}\.)\d{2})",
    )
    .expect("a valid pattern")
});

static ACCOUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?P<number>\d{8})(?P<unit>\s?(?:pounds|gbp|k\b|m\b|quid))?")
        .expect("a valid pattern")
});

static POSTCODE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-z]{1,2}\d[a-z\d]?\s*\d[abd-hjlnp-uw-z]{2}\b").expect("a valid pattern")
});

/// Replaces the matches of `pattern` that stand [`alone`] and that `valid`
/// accepts with `tag`.
fn replace_checked(pattern: &Regex, text: &str, tag: &str, valid: impl Fn(&str) -> bool) -> String {
    replace_each(pattern, text, |c| {
        let found = c.get(0).expect("the whole match");
        (alone(text, found) && valid(found.as_str())).then(|| tag.to_owned())
    })
}

/// `text` with each match of `pattern` replaced by what `replace` makes of
/// it. Where it makes nothing, the search goes on from the match's second
/// character, not its end: a match that ran on from a longer number
/// (`2024 07700 900123`) must not hide the number inside it.
fn replace_each(
    pattern: &Regex,
    text: &str,
    replace: impl Fn(&Captures) -> Option<String>,
) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut written, mut from) = (0, 0);
    while let Some(c) = pattern.captures_at(text, from) {
        let found = c.get(0).expect("the whole match");
        match replace(&c) {
            Some(tag) => {
                out.push_str(&text[written..found.start()]);
                out.push_str(&tag);
                written = found.end();
                from = found.end();
            }
            None => {
                let first = text[found.start()..]
                    .chars()
                    .next()
                    .map_or(1, char::len_utf8);
                from = found.start() + first;
            }
        }
        if from >= text.len() {
            break;
        }
    }
    out.push_str(&text[written..]);
    out
}

/// Whether `found` (a match in `text`) is a number of its own, not part of
/// a longer one: no digit just before or after it, nor a dot or dash with a
/// digit beyond. Letters may touch it (`ref4111…`).
fn alone(text: &str, found: regex::Match<'_>) -> bool {
    let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
    let joined = |mut side: std::str::Chars<'_>, reverse: bool| {
        let mut next = || {
            if reverse {
                side.next_back()
            } else {
                side.next()
            }
        };
        match next() {
            Some('.' | '-') => digit(next()),
            c => digit(c),
        }
    };
    !joined(text[..found.start()].chars(), true) && !joined(text[found.end()..].chars(), false)
}

fn digits(text: &str) -> Vec<u32> {
    text.chars().filter_map(|c| c.to_digit(10)).collect()
}

/// The Luhn check of a card number.
fn luhn_valid(number: &str) -> bool {
    let digits = digits(number);
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                (d * 2) % 9 + u32::from(d == 9) * 9
            } else {
                d
            }
        })
        .sum();
    (13..=19).contains(&digits.len()) && sum.is_multiple_of(10)
}

/// An IBAN's mod-97 check (ISO 13616): country and check digits moved to
/// the end, letters as 10 to 35, the number mod 97 is 1.
fn iban_valid(iban: &str) -> bool {
    let compact: Vec<char> = iban.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let rotated = compact[4..].iter().chain(&compact[..4]);
    let mut remainder = 0u32;
    for c in rotated {
        let Some(value) = c.to_digit(36) else {
            return false;
        };
        for digit in if value >= 10 {
            vec![value / 10, value % 10]
        } else {
            vec![value]
        } {
            remainder = (remainder * 10 + digit) % 97;
        }
    }
    remainder == 1
}

/// A phone number's digit count: UK numbers 10 or 11, others (`+…` or
/// `00…`) 8 to 15 after the prefix.
fn phone_like(candidate: &str) -> bool {
    let mut number = digits(candidate);
    let plus = candidate.trim_start_matches(['(', ' ']).starts_with('+');
    let zero_zero = number.starts_with(&[0, 0]);
    if zero_zero {
        number.drain(..2);
    }
    if plus || zero_zero {
        if number.starts_with(&[4, 4]) {
            (11..=13).contains(&number.len())
        } else {
            (8..=15).contains(&number.len())
        }
    } else {
        (10..=11).contains(&number.len())
    }
}

/// `dd-mm-yy` that could be a date: a day of 1 to 31 and a month of 1 to 12.
fn date_like(code: &str) -> bool {
    let parts: Vec<u32> = code
        .split(['-', ' ', '.'])
        .filter_map(|p| p.parse().ok())
        .collect();
    matches!(parts.as_slice(), [day, month, _] if (1..=31).contains(day) && (1..=12).contains(month))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_data_becomes_tags() {
        for (input, expected) in [
            (
                "email me at jo.bloggs+loans@example.co.uk please",
                "email me at [email] please",
            ),
            ("JO_B@Example.COM", "[email]"),
            ("(it's o'neil@firm.ie)", "(it's [email])"),
            ("call 07700 900123", "call [phone]"),
            ("call 07700900123 today", "call [phone] today"),
            ("landline 020 7946 0958", "landline [phone]"),
            ("(020) 7946-0958", "[phone]"),
            ("+44 20 7946 0958", "[phone]"),
            ("+44 (0)20 7946 0958", "[phone]"),
            ("+447700900123", "[phone]"),
            ("0044 7700 900123", "[phone]"),
            ("my US cell +1 415 555 2671", "my US cell [phone]"),
            ("+33 1 42 68 53 00", "[phone]"),
            ("card 4111 1111 1111 1111 expired", "card [card] expired"),
            ("4111-1111-1111-1111", "[card]"),
            ("5500005555555559", "[card]"),
            ("378282246310005 amex", "[card] amex"),
            ("sort code 12-34-56", "sort code [sort code]"),
            ("sort code: 20 00 00", "sort code: [sort code]"),
            ("my sortcode is 12-05-24", "my sortcode is [sort code]"),
            ("40-47-84 is my branch", "[sort code] is my branch"),
            ("account 12345678", "account [account]"),
            ("acct no.87654321.", "acct no.[account]."),
            ("NI number QQ 12 34 56 C", "NI number [ni number]"),
            ("ab123456c", "[ni number]"),
            ("IBAN GB82 WEST 1234 5698 7654 32", "IBAN [iban]"),
            ("gb82west12345698765432", "[iban]"),
            ("DE89370400440532013000 paid", "[iban] paid"),
            ("DE89 3704 0044 0532 0130 00 was paid", "[iban] was paid"),
            ("NL91 ABNA 0417 1643 00 rest", "[iban] rest"),
            ("we're at SW1A 1AA", "we're at [postcode]"),
            ("postcode m1 1ae", "postcode [postcode]"),
            ("EC1A1BB.", "[postcode]."),
            ("B33 8TH", "[postcode]"),
            // Dots, and numbers inside words.
            ("card 4111.1111.1111.1111 lost", "card [card] lost"),
            ("ref4111111111111111", "ref[card]"),
            ("sort code 12.34.56", "sort code [sort code]"),
            ("40.47.84 is my branch", "[sort code] is my branch"),
            ("acct87654321", "acct[account]"),
            ("tel07700900123", "tel[phone]"),
            ("call 0770.090.0123", "call [phone]"),
            // A number inside a match that ran on from a longer one.
            ("since 2024 07700 900123", "since 2024 [phone]"),
            ("ref 4500 07700900123", "ref 4500 [phone]"),
            ("APP01234567890", "APP[phone]"),
        ] {
            assert_eq!(redact(input), expected, "{input:?}");
        }
    }

    #[test]
    fn amounts_dates_times_and_near_misses_are_left_alone() {
        for input in [
            "can I borrow £5,000 over 12 months?",
            "we turned over £250,000 last year",
            "is 50000 too much",
            "£10000000 facility",
            "10000000 pounds",
            "a loan of 25000 at 9.9% APR",
            "I applied on 12/05/2024",
            "the deadline is 2024-05-12",
            "we spoke on 12.05.2024 at 10:30",
            "my repayment on 12-05-24 bounced",
            "payment of 1234.56 due",
            "ref 4111 1111 1111 1112",
            "call me at 3pm",
            "about 3 months",
            "we have 120 staff and 2 sites",
            "year 2023 and 2024",
            "GB82 is not an IBAN",
            "I was in room 101",
            "the 1st of May",
            "version 2 of the form",
            "paid on 12.05.24",
            "order 123456789012 shipped",
            "the router is at 10.20.30.40",
            "ref 4111.1111.1111.1112",
            "invoice INV-20240512-0001",
            "tracking 1Z999AA10123456784",
            "I pay £45.00 12 times a year",
            "£10.00 12 months",
            "12-34 56 is not one separator",
        ] {
            assert_eq!(redact(input), input, "{input:?}");
        }
    }

    #[test]
    fn several_kinds_in_one_message_are_all_caught() {
        let text =
            "I'm Jo (jo@x.com, 07700 900123), sort code 12-34-56, account 12345678, SW1A 1AA";
        assert_eq!(
            redact(text),
            "I'm Jo ([email], [phone]), sort code [sort code], account [account], [postcode]"
        );
    }

    #[test]
    fn the_checks_are_the_published_ones() {
        assert!(luhn_valid("4111111111111111"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(iban_valid("GB82WEST12345698765432"));
        assert!(!iban_valid("GB82WEST12345698765433"));
    }
}
