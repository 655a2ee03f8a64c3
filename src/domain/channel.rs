//! One way to the team (e-mail, webhook): its state for one handoff or one
//! complaint notice. Its own module, since both the handoffs and the
//! complaints (`care`) keep it and `handoff` already depends on `care`.

use serde::Serialize;

/// One way of delivery's state for one handoff or complaint notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Not configured (on the replica that sent the rest).
    None,
    Pending,
    Done,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Pending => "pending",
            Self::Done => "done",
        }
    }

    pub fn parse(text: &str) -> Self {
        match text {
            "pending" => Self::Pending,
            "done" => Self::Done,
            _ => Self::None,
        }
    }
}
