//! Built-in out-of-scope training examples: general-purpose messages a
//! lender's support chat should not answer (weather, jokes, recipes, coding,
//! celebrities, crypto tips, other products, ...). They form an extra
//! rejection class in training, always (server and evaluation alike).
//! They deliberately contain no banking or lending support questions.

const OOS_TRAIN: &str = include_str!("oos_train.txt");

/// Non-empty, non-comment lines of `oos_train.txt`.
pub fn training_examples() -> impl Iterator<Item = &'static str> {
    OOS_TRAIN
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}
