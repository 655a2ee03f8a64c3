//! The conversation as the panel shows it, and every way it moves: sending,
//! waiting for the reply, a `429` countdown, a retry, going offline,
//! restoring after a reload. Plain data and methods, no browser: compiled
//! natively too and unit-tested there. The view (`widget.rs`) holds one of
//! these in a signal and renders it; the wire (`wire.rs`) turns a response
//! into a [`ChatResponse`] or a [`Failure`].

use support_chat_api::ChatResponse;

use crate::text;
use crate::transcript::{Entry, Kind};

/// Why a round trip failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// `429`: the server accepts another message after `retry_after` seconds.
    RateLimited { retry_after: u32 },
    /// Anything else.
    Other {
        /// A sentence for the visitor.
        message: String,
        /// The envelope's `code`, or `network`/`offline`/`server`.
        code: String,
        /// The HTTP status; 0 without a response.
        status: u16,
    },
}

/// A message to put on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub text: String,
    pub session: Option<String>,
}

/// A vote to put on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vote {
    pub session: String,
    pub reply_id: String,
    pub helpful: bool,
}

/// What a reload restores (see `storage.rs`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Saved {
    pub entries: Vec<Entry>,
    pub session: Option<String>,
    pub open: Option<bool>,
    pub suggestions: Vec<String>,
}

/// The conversation on show.
#[derive(Clone, Debug, PartialEq)]
pub struct Conversation {
    /// The greeting first, then every message and notice.
    pub entries: Vec<Entry>,
    pub session: Option<String>,
    /// Quick replies on show.
    pub suggestions: Vec<String>,
    /// A message is on the wire.
    pub pending: bool,
    /// After a `429`: when (ms since the epoch) the server accepts again.
    pub wait_until: Option<f64>,
    /// The message the "Try again" button sends.
    pub retry: Option<String>,
    /// The browser says it is offline.
    pub offline: bool,
    /// After "Not helpful": a person is offered.
    pub offer_person: bool,
}

impl Conversation {
    /// The conversation after `greeting`, with what a reload kept.
    /// A message left unanswered (the visitor moved on while it was on the
    /// wire) can be sent again with "Try again".
    pub fn restore(greeting: String, saved: Saved) -> Self {
        let retry = saved
            .entries
            .last()
            .filter(|e| e.kind == Kind::Visitor)
            .map(|e| e.text.clone());
        let mut entries = vec![Entry::new(Kind::Assistant, greeting)];
        entries.extend(saved.entries);
        Self {
            entries,
            session: saved.session,
            suggestions: saved.suggestions,
            pending: false,
            wait_until: None,
            retry,
            offline: false,
            offer_person: false,
        }
    }

    /// The visitor has written something: nothing is stored before that.
    pub fn started(&self) -> bool {
        self.entries.len() > 1
    }

    /// Whole seconds, rounded up, before another message may be sent.
    pub fn wait_left(&self, now: f64) -> u32 {
        self.wait_until
            .map_or(0, |until| text::seconds_left(until, now))
    }

    /// A message may go now: nothing in flight and no wait running.
    pub fn may_send(&self, now: f64) -> bool {
        !self.pending && self.wait_left(now) == 0
    }

    /// Puts the visitor's `text` (trimmed) on show and returns what to send;
    /// `None`, changing nothing, when it is empty or may not go now.
    pub fn send(&mut self, text: &str, now: f64) -> Option<Outgoing> {
        let text = text.trim();
        if text.is_empty() || !self.may_send(now) {
            return None;
        }
        self.entries
            .push(Entry::new(Kind::Visitor, text.to_owned()));
        self.offer_person = false;
        Some(self.deliver(text.to_owned()))
    }

    /// Sends the failed message again (it is on show already).
    pub fn resend(&mut self, now: f64) -> Option<Outgoing> {
        if !self.may_send(now) {
            return None;
        }
        let text = self.retry.take()?;
        Some(self.deliver(text))
    }

    fn deliver(&mut self, text: String) -> Outgoing {
        self.pending = true;
        self.retry = None;
        Outgoing {
            text,
            session: self.session.clone(),
        }
    }

    /// The reply arrived.
    pub fn received(&mut self, reply: ChatResponse) {
        self.pending = false;
        self.session = Some(reply.session);
        let entry = if reply.handoff {
            Entry::new(Kind::Handoff, reply.reply)
        } else {
            Entry {
                reply: Some(reply.reply_id),
                ..Entry::new(Kind::Assistant, reply.reply)
            }
        };
        self.entries.push(entry);
        self.suggestions = reply.suggestions;
    }

    /// The visitor voted on entry `index`: what to send, once per answer
    /// (answers only, not notices or handoffs).
    pub fn vote(&mut self, index: usize, helpful: bool) -> Option<Vote> {
        let session = self.session.clone()?;
        let entry = self.entries.get_mut(index)?;
        if !entry.votable() || entry.vote.is_some() {
            return None;
        }
        entry.vote = Some(helpful);
        self.offer_person = !helpful;
        Some(Vote {
            session,
            reply_id: entry.reply.clone()?,
            helpful,
        })
    }

    /// The vote on entry `index` did not get through: it can be given again.
    pub fn vote_failed(&mut self, index: usize, notice: String) {
        if let Some(entry) = self.entries.get_mut(index) {
            entry.vote = None;
        }
        self.offer_person = false;
        self.entries.push(Entry::new(Kind::Notice, notice));
    }

    /// The visitor erases the conversation: the session to erase on the
    /// server (none before a first reply), and only the greeting and
    /// `notice` left on show.
    pub fn erase(&mut self, notice: String) -> Option<String> {
        self.entries.truncate(1);
        self.entries.push(Entry::new(Kind::Notice, notice));
        self.suggestions.clear();
        self.retry = None;
        self.offer_person = false;
        self.session.take()
    }

    /// `text` did not get through. Returns the notice shown, and the message
    /// to give back to the input box to edit (a refused message, or one to
    /// send by hand after the wait), if any.
    pub fn failed(
        &mut self,
        text: String,
        failure: &Failure,
        now: f64,
    ) -> (String, Option<String>) {
        self.pending = false;
        let (notice, give_back) = match failure {
            Failure::RateLimited { retry_after } => {
                self.wait_until = Some(now + f64::from(*retry_after) * 1000.0);
                (text::rate_limited(*retry_after), Some(text))
            }
            Failure::Other {
                message,
                code,
                status,
            } => {
                if code == "invalid_session" {
                    self.session = None;
                }
                if *status == 400 && code != "invalid_session" {
                    // The message itself was refused: back to the box to edit.
                    (message.clone(), Some(text))
                } else {
                    self.retry = Some(text);
                    (message.clone(), None)
                }
            }
        };
        self.entries.push(Entry::new(Kind::Notice, notice.clone()));
        (notice, give_back)
    }

    /// The status line: the wait, being offline, or nothing.
    pub fn status(&self, now: f64) -> String {
        match self.wait_left(now) {
            0 if self.offline => text::OFFLINE_STATUS.to_owned(),
            0 => String::new(),
            secs => text::wait_status(secs),
        }
    }

    /// What a reload should restore, with the panel `open` or not; `None`
    /// before the visitor's first message.
    pub fn saved(&self, open: bool) -> Option<Saved> {
        self.started().then(|| Saved {
            entries: self.entries[1..].to_vec(),
            session: self.session.clone(),
            open: Some(open),
            suggestions: self.suggestions.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> Conversation {
        Conversation::restore("Hello!".into(), Saved::default())
    }

    fn reply(text: &str, handoff: bool) -> ChatResponse {
        ChatResponse {
            session: "s1".into(),
            reply: text.into(),
            suggestions: vec!["Who can apply?".into()],
            handoff,
            reply_id: format!("reply-{text}"),
            complaint: None,
        }
    }

    #[test]
    fn nothing_is_kept_before_the_first_message() {
        let c = fresh();
        assert!(!c.started());
        assert_eq!(c.saved(true), None);
    }

    #[test]
    fn a_message_goes_out_once_and_its_reply_ends_the_wait() {
        let mut c = fresh();
        let out = c.send("  How long?  ", 0.0).unwrap();
        assert_eq!(out.text, "How long?");
        assert_eq!(out.session, None);
        assert!(c.pending);
        assert_eq!(c.send("again", 0.0), None, "one in flight at a time");
        c.received(reply("About a day.", false));
        assert!(!c.pending);
        assert_eq!(c.session.as_deref(), Some("s1"));
        assert_eq!(c.suggestions, ["Who can apply?"]);
        let kinds: Vec<Kind> = c.entries.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [Kind::Assistant, Kind::Visitor, Kind::Assistant]);
        assert_eq!(c.send("next", 0.0).unwrap().session.as_deref(), Some("s1"));
    }

    #[test]
    fn blank_messages_are_not_sent() {
        let mut c = fresh();
        assert_eq!(c.send(" \n\t ", 0.0), None);
        assert!(!c.started());
    }

    #[test]
    fn a_handoff_reply_is_marked_as_one() {
        let mut c = fresh();
        c.send("a person please", 0.0);
        c.received(reply("Our team can help.", true));
        assert_eq!(c.entries.last().unwrap().kind, Kind::Handoff);
    }

    #[test]
    fn a_429_counts_down_gives_the_message_back_and_then_lets_it_go() {
        let mut c = fresh();
        c.send("hi", 0.0);
        let (notice, back) = c.failed(
            "hi".into(),
            &Failure::RateLimited { retry_after: 30 },
            1_000.0,
        );
        assert!(notice.contains("30 seconds"), "{notice}");
        assert_eq!(back.as_deref(), Some("hi"));
        assert_eq!(c.wait_left(1_000.0), 30);
        assert_eq!(
            c.status(1_000.0),
            "You can send another message in 30 seconds."
        );
        assert_eq!(c.send("hi", 20_000.0), None, "still waiting");
        assert_eq!(c.wait_left(30_500.0), 1);
        assert!(c.send("hi", 31_000.0).is_some(), "the wait is over");
    }

    #[test]
    fn a_network_failure_offers_a_retry_of_the_same_message() {
        let mut c = fresh();
        c.send("hi", 0.0);
        let failure = Failure::Other {
            message: "We couldn't reach support.".into(),
            code: "network".into(),
            status: 0,
        };
        let (_, back) = c.failed("hi".into(), &failure, 0.0);
        assert_eq!(back, None);
        assert_eq!(c.retry.as_deref(), Some("hi"));
        let again = c.resend(0.0).unwrap();
        assert_eq!(again.text, "hi");
        assert_eq!(c.retry, None);
        let visitor = c.entries.iter().filter(|e| e.kind == Kind::Visitor).count();
        assert_eq!(visitor, 1, "a retry does not repeat the message on show");
    }

    #[test]
    fn a_refused_message_goes_back_to_the_box_and_a_stale_session_is_dropped() {
        let mut c = fresh();
        c.session = Some("old".into());
        c.send("x", 0.0);
        let refused = Failure::Other {
            message: "The message is empty.".into(),
            code: "message_empty".into(),
            status: 400,
        };
        assert_eq!(c.failed("x".into(), &refused, 0.0).1.as_deref(), Some("x"));
        assert_eq!(c.retry, None);
        c.send("y", 0.0);
        let stale = Failure::Other {
            message: "The session id is not one this server issued.".into(),
            code: "invalid_session".into(),
            status: 400,
        };
        assert_eq!(c.failed("y".into(), &stale, 0.0).1, None);
        assert_eq!(c.session, None);
        assert_eq!(
            c.retry.as_deref(),
            Some("y"),
            "sent again without the session"
        );
    }

    #[test]
    fn an_answer_takes_one_vote_and_a_handoff_or_the_greeting_none() {
        let mut c = fresh();
        assert_eq!(c.vote(0, true), None, "not the greeting");
        c.send("hi", 0.0);
        c.received(reply("Hello again.", false));
        let vote = c.vote(2, false).unwrap();
        assert_eq!(vote.reply_id, "reply-Hello again.");
        assert_eq!(vote.session, "s1");
        assert!(!vote.helpful);
        assert!(c.offer_person, "not helpful offers a person");
        assert_eq!(c.vote(2, true), None, "once");
        c.send("a person", 0.0);
        assert!(!c.offer_person, "the offer goes with the next message");
        c.received(reply("Our team can help.", true));
        assert_eq!(c.vote(4, true), None, "not a handoff");
    }

    #[test]
    fn a_vote_that_failed_can_be_given_again() {
        let mut c = fresh();
        c.send("hi", 0.0);
        c.received(reply("Hello again.", false));
        c.vote(2, true).unwrap();
        c.vote_failed(2, "Your feedback could not be sent.".into());
        assert!(c.vote(2, true).is_some());
    }

    #[test]
    fn erasing_leaves_the_greeting_and_a_notice_and_forgets_the_session() {
        let mut c = fresh();
        c.send("hi", 0.0);
        c.received(reply("Hello again.", false));
        assert_eq!(c.erase("Deleted.".into()).as_deref(), Some("s1"));
        assert_eq!(c.session, None);
        assert!(c.suggestions.is_empty());
        let kinds: Vec<Kind> = c.entries.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [Kind::Assistant, Kind::Notice]);
        assert_eq!(
            c.send("new", 0.0).unwrap().session,
            None,
            "a new conversation"
        );
    }

    #[test]
    fn offline_shows_in_the_status_line_when_no_wait_runs() {
        let mut c = fresh();
        c.offline = true;
        assert_eq!(c.status(0.0), text::OFFLINE_STATUS);
        c.offline = false;
        assert_eq!(c.status(0.0), "");
    }

    #[test]
    fn a_reload_restores_what_was_saved_after_the_greeting() {
        let mut c = fresh();
        c.send("hi", 0.0);
        c.received(reply("Hello again.", false));
        let saved = c.saved(true).unwrap();
        assert_eq!(saved.entries.len(), 2);
        let restored = Conversation::restore("Hello!".into(), saved);
        assert_eq!(restored.entries, c.entries);
        assert_eq!(restored.session, c.session);
        assert_eq!(restored.suggestions, c.suggestions);
        assert_eq!(restored.retry, None, "answered: nothing to try again");
    }

    #[test]
    fn a_message_left_on_the_wire_by_a_reload_can_be_sent_again() {
        let mut c = fresh();
        c.send("hi", 0.0);
        c.received(reply("Hello again.", false));
        c.send("how long does it take?", 0.0);
        // The page went away before the reply came.
        let mut restored = Conversation::restore("Hello!".into(), c.saved(true).unwrap());
        assert_eq!(restored.retry.as_deref(), Some("how long does it take?"));
        let again = restored.resend(0.0).unwrap();
        assert_eq!(again.text, "how long does it take?");
        assert_eq!(again.session.as_deref(), Some("s1"));
        assert_eq!(restored.entries.len(), 4, "the message is not shown twice");
    }
}
