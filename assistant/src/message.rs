//! [`Message`]: a visitor's message that is known to be acceptable.

use crate::redact::redact;

/// A visitor's message, trimmed: 1 to `max_chars` characters (not bytes),
/// no control characters but tab and newline. Only [`Message::parse`] makes
/// one, and the engine answers only these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message(String);

/// Why a message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Nothing but white space.
    #[error("The message is empty.")]
    Empty,
    /// Longer than `max` characters once trimmed.
    #[error("The message is longer than {max} characters.")]
    TooLong { max: usize },
    /// A control character other than tab or newline.
    #[error("The message contains control characters.")]
    ControlChars,
}

impl Message {
    pub fn parse(text: &str, max_chars: usize) -> Result<Self, MessageError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(MessageError::Empty);
        }
        if text.chars().count() > max_chars {
            return Err(MessageError::TooLong { max: max_chars });
        }
        if text
            .chars()
            .any(|c| c.is_control() && c != '\t' && c != '\n')
        {
            return Err(MessageError::ControlChars);
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This message with its personal data replaced by tags ([`redact`]):
    /// still a message (a tag is never empty, nor a control character).
    pub fn redacted(&self) -> Message {
        Self(redact(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, max: usize) -> Result<String, MessageError> {
        Message::parse(text, max).map(|m| m.as_str().to_owned())
    }

    #[test]
    fn messages_are_trimmed_and_bounded_in_characters_not_bytes() {
        assert_eq!(parse("  hello \n", 10), Ok("hello".to_owned()));
        assert_eq!(parse(" \t\n ", 10), Err(MessageError::Empty));
        assert_eq!(parse(&"é".repeat(10), 10), Ok("éééééééééé".to_owned()));
        assert_eq!(
            parse(&"é".repeat(11), 10),
            Err(MessageError::TooLong { max: 10 })
        );
        assert_eq!(parse("😀 ok", 10), Ok("😀 ok".to_owned()));
    }

    #[test]
    fn control_characters_other_than_tab_and_newline_are_rejected() {
        assert_eq!(parse("a\tb\nc", 10), Ok("a\tb\nc".to_owned()));
        for bad in ["a\0b", "a\u{7}b", "a\rb", "a\u{1b}[31mb", "a\u{85}b"] {
            assert_eq!(parse(bad, 10), Err(MessageError::ControlChars), "{bad:?}");
        }
    }
}
