//! What the panel shows: a list of [`Entry`], each of one [`Kind`].

/// Who wrote a transcript entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Visitor,
    Assistant,
    /// An assistant reply that hands the visitor to a person.
    Handoff,
    /// A notice from the widget itself (an error, a wait).
    Notice,
}

impl Kind {
    /// The number this kind is stored as (see `storage.rs`).
    pub fn stored(self) -> u8 {
        match self {
            Kind::Visitor => 0,
            Kind::Assistant => 1,
            Kind::Handoff => 2,
            Kind::Notice => 3,
        }
    }

    /// The kind stored as `n`; `None` for anything else.
    pub fn from_stored(n: f64) -> Option<Kind> {
        [Kind::Visitor, Kind::Assistant, Kind::Handoff, Kind::Notice]
            .into_iter()
            .find(|kind| f64::from(kind.stored()) == n)
    }

    /// The CSS classes of a message of this kind (`style/widget.css`).
    pub fn class(self) -> &'static str {
        match self {
            Kind::Visitor => "msg visitor",
            Kind::Assistant => "msg assistant",
            Kind::Handoff => "msg assistant handoff",
            Kind::Notice => "msg notice",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub text: String,
    /// An answer's reply id, to vote on it.
    pub reply: Option<String>,
    /// The visitor's vote on it: helpful or not.
    pub vote: Option<bool>,
}

impl Entry {
    /// An entry with no reply id and no vote.
    pub fn new(kind: Kind, text: String) -> Self {
        Self {
            kind,
            text,
            reply: None,
            vote: None,
        }
    }

    /// Whether the visitor can vote on it: an answer, not a notice or a handoff.
    pub fn votable(&self) -> bool {
        self.kind == Kind::Assistant && self.reply.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_stored_numbers_and_nothing_else_parses() {
        for kind in [Kind::Visitor, Kind::Assistant, Kind::Handoff, Kind::Notice] {
            assert_eq!(Kind::from_stored(f64::from(kind.stored())), Some(kind));
        }
        for bad in [-1.0, 4.0, 0.5, f64::NAN] {
            assert_eq!(Kind::from_stored(bad), None, "{bad}");
        }
    }
}
