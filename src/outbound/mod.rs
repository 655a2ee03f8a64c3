//! The ways a handoff, and a new complaint's notice, reach the team, each a
//! [`Courier`](crate::domain::handoff::Courier): e-mail over SMTP ([`mail`])
//! and a signed webhook ([`webhook`]). What they carry is written here once,
//! as text for people and as JSON.

pub mod mail;
pub mod webhook;

use std::fmt::Write;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::domain::care::{Complaint, Notice};
use crate::domain::clock::UnixMillis;
use crate::domain::handoff::Parcel;
use crate::domain::records::{RecordedOutcome, SessionHash, TranscriptTurn};

fn timestamp(at: UnixMillis) -> Timestamp {
    Timestamp::from_millisecond(at).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `at` as people read it in `zone`, e.g. `Wed 2 Dec 2026 20:14 GMT`.
pub fn local_time(at: UnixMillis, zone: &TimeZone) -> String {
    timestamp(at)
        .to_zoned(zone.clone())
        .strftime("%a %-d %b %Y %H:%M %Z")
        .to_string()
}

/// `at` as RFC 3339, for machines.
pub fn rfc3339(at: UnixMillis) -> String {
    timestamp(at).to_string()
}

/// What the assistant did with a turn, in words.
fn what_the_assistant_did(turn: &TranscriptTurn) -> String {
    let mut did = match (turn.outcome, &turn.article_id) {
        (RecordedOutcome::Answered, Some(article)) => format!(
            "answered with the article \"{article}\"{} (confidence {:.2})",
            turn.article_version
                .as_ref()
                .map(|v| format!(", version {v}"))
                .unwrap_or_default(),
            turn.confidence
        ),
        (RecordedOutcome::Answered, None) => {
            format!("answered (confidence {:.2})", turn.confidence)
        }
        (RecordedOutcome::Clarified, _) => "asked the visitor to say more".to_owned(),
        (RecordedOutcome::HandedOff, _) => "handed the visitor to a person".to_owned(),
        (RecordedOutcome::OutOfScope, _) => "said it cannot help with that".to_owned(),
    };
    if turn.complaint {
        did.insert_str(0, "recognised a complaint and ");
    }
    match turn.helpful {
        Some(true) => did.push_str("; the visitor found it helpful"),
        Some(false) => did.push_str("; the visitor found it NOT helpful"),
        None => {}
    }
    did
}

/// The plain-text body of a handoff, for people: who, when, what they
/// asked for, and the conversation as recorded.
pub fn plain_text(parcel: &Parcel) -> String {
    let handoff = &parcel.handoff;
    let contact = &handoff.contact;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "A visitor asked for a person to get in touch. Reply to this e-mail to write to them.\n"
    );
    if let Some(complaint) = &parcel.complaint {
        let _ = writeln!(
            text,
            "THIS CONVERSATION HOLDS A COMPLAINT ({}, {}), made {}.\n\
             Acknowledge it by {}; the final response is due by {}.\n\
             Record each step against its reference (console, Complaints).\n",
            complaint.reference,
            complaint.status.as_str(),
            local_time(complaint.made, &parcel.zone),
            local_time(complaint.acknowledge_by, &parcel.zone),
            local_time(complaint.respond_by, &parcel.zone),
        );
    }
    let _ = writeln!(text, "Reference:  {}", handoff.reference);
    let _ = writeln!(
        text,
        "Asked:      {}",
        local_time(handoff.created, &parcel.zone)
    );
    let _ = writeln!(text, "E-mail:     {}", contact.email);
    if let Some(name) = &contact.name {
        let _ = writeln!(text, "Name:       {name}");
    }
    if let Some(availability) = &parcel.availability {
        let _ = writeln!(text, "Hours now:  {availability}");
    }
    if let Some(note) = &contact.note {
        let _ = writeln!(text, "\nTheir note:");
        for line in note.lines() {
            let _ = writeln!(text, "  {line}");
        }
    }
    conversation(
        &mut text,
        &parcel.transcript,
        &handoff.session,
        &parcel.zone,
    );
    text
}

/// The plain-text body of a new complaint's notice, for people: its
/// reference, when it is due, the visitor's words and the conversation.
pub fn notice_text(notice: &Notice) -> String {
    let complaint = &notice.complaint;
    let zone = &notice.zone;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "A visitor made a complaint to the assistant. Acknowledge it by {}; \
         the final response is due by {}.\n\
         The visitor left no contact here: if they ask for a person, that \
         handoff follows with this reference. Record each step against it \
         (console, Complaints).\n",
        local_time(complaint.acknowledge_by, zone),
        local_time(complaint.respond_by, zone),
    );
    let _ = writeln!(text, "Reference:  {}", complaint.reference);
    let _ = writeln!(text, "Made:       {}", local_time(complaint.made, zone));
    let _ = writeln!(text, "Status:     {}", complaint.status.as_str());
    let _ = writeln!(text, "\nTheir words:");
    for line in complaint.message.lines() {
        let _ = writeln!(text, "  {line}");
    }
    conversation(&mut text, &notice.transcript, &complaint.session, zone);
    text
}

/// The conversation as recorded, turn by turn, and where to find it.
fn conversation(
    text: &mut String,
    transcript: &[TranscriptTurn],
    session: &SessionHash,
    zone: &TimeZone,
) {
    let _ = writeln!(
        text,
        "\nThe conversation (personal details were redacted before it was stored):\n"
    );
    if transcript.is_empty() {
        let _ = writeln!(
            text,
            "  (nothing is recorded: it was erased or has expired)"
        );
    }
    for turn in transcript {
        let at = timestamp(turn.at).to_zoned(zone.clone());
        let _ = writeln!(
            text,
            "  {}  Visitor:    {}",
            at.strftime("%H:%M"),
            indent(&turn.message)
        );
        let _ = writeln!(
            text,
            "         Assistant:  {}",
            what_the_assistant_did(turn)
        );
    }
    let _ = writeln!(
        text,
        "\nConversation {} in the admin API (GET /admin/api/conversations/{}).",
        session.as_str(),
        session.as_str()
    );
}

/// A message's later lines lined up under its first.
fn indent(message: &str) -> String {
    message
        .lines()
        .collect::<Vec<_>>()
        .join("\n                     ")
}

/// A transcript as JSON.
fn transcript_json(transcript: &[TranscriptTurn]) -> Vec<serde_json::Value> {
    transcript
        .iter()
        .map(|turn| {
            serde_json::json!({
                "at": rfc3339(turn.at),
                "message": turn.message,
                "outcome": turn.outcome.as_str(),
                "article": turn.article_id,
                "article_version": turn.article_version,
                "confidence": turn.confidence,
                "helpful": turn.helpful,
                "complaint": turn.complaint,
            })
        })
        .collect()
}

/// A complaint's reference, status and due times as JSON.
fn complaint_json(c: &Complaint) -> serde_json::Value {
    serde_json::json!({
        "reference": c.reference,
        "status": c.status.as_str(),
        "made_at": rfc3339(c.made),
        "acknowledge_by": rfc3339(c.acknowledge_by),
        "respond_by": rfc3339(c.respond_by),
    })
}

/// The JSON body of a handoff, for machines.
pub fn json(parcel: &Parcel) -> serde_json::Value {
    let handoff = &parcel.handoff;
    serde_json::json!({
        "type": "handoff",
        "reference": handoff.reference,
        "created_at": rfc3339(handoff.created),
        "contact": handoff.contact,
        "availability": parcel.availability,
        "conversation": handoff.session.as_str(),
        "complaint": parcel.complaint.as_ref().map(complaint_json),
        "transcript": transcript_json(&parcel.transcript),
    })
}

/// The JSON body of a new complaint's notice, for machines: the handoff's
/// `complaint` object, the visitor's words and the conversation.
pub fn notice_json(notice: &Notice) -> serde_json::Value {
    let complaint = &notice.complaint;
    serde_json::json!({
        "type": "complaint",
        "reference": complaint.reference,
        "conversation": complaint.session.as_str(),
        "complaint": complaint_json(complaint),
        "message": complaint.message,
        "transcript": transcript_json(&notice.transcript),
    })
}
