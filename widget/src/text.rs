//! The widget's sentences about waiting and failing, built without `format!`
//! (it costs bytes in the wasm).

pub const NETWORK_ERROR: &str =
    "We couldn't reach support. Please check your connection and try again.";
pub const OFFLINE_ERROR: &str =
    "You appear to be offline. Check your connection, then press Try again.";
pub const SERVER_ERROR: &str = "Something went wrong on our side. Please try again in a moment.";
pub const OFFLINE_STATUS: &str = "You're offline. Messages can't be sent until you reconnect.";
pub const ASK_FEEDBACK: &str = "Was this helpful?";
pub const THANKS_FEEDBACK: &str = "Thanks for your feedback.";
pub const FEEDBACK_ERROR: &str = "Your feedback could not be sent. Please try again.";
/// What "Talk to a person" sends.
pub const ASK_FOR_PERSON: &str = "I'd like to talk to a person";
pub const CONFIRM_ERASE: &str = "Delete what you wrote here, in this browser and on our side?";
pub const ERASED: &str = "Your conversation has been deleted.";
pub const ERASE_FAILED: &str = "Your conversation could not be deleted on our side yet: ";

/// "1 second", "2 seconds".
pub fn seconds(n: u32) -> String {
    let unit = if n == 1 { " second" } else { " seconds" };
    [n.to_string().as_str(), unit].concat()
}

/// The transcript notice after a `429`.
pub fn rate_limited(secs: u32) -> String {
    [
        "You've sent a lot of messages in a short time. Please wait ",
        &seconds(secs),
        " before sending another.",
    ]
    .concat()
}

/// The status line while the wait runs.
pub fn wait_status(secs: u32) -> String {
    ["You can send another message in ", &seconds(secs), "."].concat()
}

/// Whole seconds from `now_ms` until `deadline_ms`, rounded up, never below 0.
pub fn seconds_left(deadline_ms: f64, now_ms: f64) -> u32 {
    ((deadline_ms - now_ms) / 1000.0).ceil().max(0.0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_singular_only_for_one() {
        assert_eq!(seconds(1), "1 second");
        assert_eq!(seconds(0), "0 seconds");
        assert_eq!(seconds(60), "60 seconds");
    }

    #[test]
    fn the_wait_texts_name_the_seconds() {
        assert_eq!(
            rate_limited(30),
            "You've sent a lot of messages in a short time. Please wait 30 seconds before sending another."
        );
        assert_eq!(wait_status(1), "You can send another message in 1 second.");
    }

    #[test]
    fn the_countdown_rounds_up_and_stops_at_zero() {
        assert_eq!(seconds_left(10_000.0, 0.0), 10);
        assert_eq!(seconds_left(10_000.0, 9_001.0), 1);
        assert_eq!(seconds_left(10_000.0, 9_999.9), 1);
        assert_eq!(seconds_left(10_000.0, 10_000.0), 0);
        assert_eq!(seconds_left(10_000.0, 12_000.0), 0);
    }
}
