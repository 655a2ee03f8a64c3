//! Handoffs by e-mail: one plain-text message per handoff to
//! `--handoff-email-to`, `Reply-To` the visitor (a new complaint's notice
//! goes to the same addresses, without `Reply-To`: it has no contact), marked
//! `Auto-Submitted: auto-generated` (RFC 3834) so auto-responders stay quiet,
//! and with a `Message-ID` made of the reference, so a retry after a lost
//! reply is the same message to the mail system.

use std::time::Duration;

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use crate::domain::Pending;
use crate::domain::care::Notice;
use crate::domain::handoff::{Courier, Parcel};

/// Why the mail settings do not make a transport.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error(
        "--smtp-url {0:?}: expected smtp://host:port (plain, for a local relay), smtp://host:port?tls=required (STARTTLS) or smtps://host:port (TLS), with credentials in SUPPORT_CHAT_SMTP_USERNAME and SUPPORT_CHAT_SMTP_PASSWORD, not in the URL"
    )]
    Url(String, #[source] Option<lettre::transport::smtp::Error>),
}

/// The mail side of handoffs: an SMTP transport (a connection of its own
/// for each message, so a send cut short leaves nothing half-used behind),
/// the addresses, and how long one message may take to send.
pub struct Mail {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    timeout: Duration,
}

impl Mail {
    /// A transport to `url`, logging in with `credentials` when given; a
    /// message not sent within `timeout` (connecting, greeting, TLS, every
    /// command) is a failed attempt. Nothing connects until the first
    /// handoff.
    pub fn new(
        url: &str,
        credentials: Option<(String, SecretString)>,
        from: Mailbox,
        to: Vec<Mailbox>,
        timeout: Duration,
    ) -> Result<Self, MailError> {
        let parsed = url::Url::parse(url).map_err(|_| MailError::Url(url.to_owned(), None))?;
        if parsed.password().is_some() || !parsed.username().is_empty() {
            return Err(MailError::Url(url.to_owned(), None));
        }
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::Url(url.to_owned(), Some(e)))?
            .timeout(Some(timeout));
        if let Some((user, password)) = credentials {
            builder =
                builder.credentials(Credentials::new(user, password.expose_secret().to_owned()));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            to,
            timeout,
        })
    }

    /// The message `parcel` goes out as.
    pub fn message(&self, parcel: &Parcel) -> Result<Message, String> {
        let handoff = &parcel.handoff;
        let contact = &handoff.contact;
        // Checked when the handoff was taken; a name is a display name only.
        let visitor = Mailbox::new(
            contact.name.clone(),
            contact
                .email
                .parse()
                .map_err(|e| format!("the visitor's address: {e}"))?,
        );
        let domain = self.from.email.domain();
        let mut builder = Message::builder()
            .from(self.from.clone())
            .reply_to(visitor)
            .subject(format!(
                "{}Handoff {}: {} asks to be contacted",
                parcel
                    .complaint
                    .as_ref()
                    .map(|c| format!("Complaint {}, ", c.reference))
                    .unwrap_or_default(),
                handoff.reference,
                contact.name.as_deref().unwrap_or("a visitor")
            ))
            .message_id(Some(format!("<{}@{domain}>", handoff.reference)))
            .header(ContentType::TEXT_PLAIN)
            .header(AutoSubmitted);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .body(super::plain_text(parcel))
            .map_err(|e| format!("cannot build the message: {e}"))
    }

    /// The message a new complaint's notice goes out as: from and to the
    /// team alone (the visitor left no contact).
    pub fn notice_message(&self, notice: &Notice) -> Result<Message, String> {
        let complaint = &notice.complaint;
        let domain = self.from.email.domain();
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(format!(
                "Complaint {}: acknowledge by {}",
                complaint.reference,
                super::local_time(complaint.acknowledge_by, &notice.zone)
            ))
            .message_id(Some(format!("<{}@{domain}>", complaint.reference)))
            .header(ContentType::TEXT_PLAIN)
            .header(AutoSubmitted);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .body(super::notice_text(notice))
            .map_err(|e| format!("cannot build the message: {e}"))
    }

    async fn send(&self, message: Message) -> Result<(), String> {
        // lettre's own timeout bounds connecting only: a server that
        // accepts and then says nothing would hold the worker forever.
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(sent) => sent.map(drop).map_err(|e| format!("SMTP: {e}")),
            Err(_) => Err(format!(
                "SMTP: no answer within {} s",
                self.timeout.as_secs_f32()
            )),
        }
    }
}

impl Courier for Mail {
    fn deliver<'a>(&'a self, parcel: &'a Parcel) -> Pending<'a, Result<(), String>> {
        Box::pin(async move { self.send(self.message(parcel)?).await })
    }

    fn notify<'a>(&'a self, notice: &'a Notice) -> Pending<'a, Result<(), String>> {
        Box::pin(async move { self.send(self.notice_message(notice)?).await })
    }
}

/// `Auto-Submitted: auto-generated` (RFC 3834).
#[derive(Clone, Debug)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::domain::handoff::{Channel, Contact, Handoff, Status};
    use crate::domain::records::{RecordedOutcome, SessionHash, TranscriptTurn};

    fn parcel(name: Option<&str>) -> Parcel {
        let session = SessionHash::unchecked("ab".repeat(16));
        Parcel {
            handoff: Handoff {
                reference: "HO-ABCD-EFGH".into(),
                session: session.clone(),
                client: "c".into(),
                created: 1_796_000_000_000,
                contact: Contact::parse("jo@example.com", name, Some("Call after 2\nplease"))
                    .unwrap(),
                email: Channel::Pending,
                webhook: Channel::None,
                attempts: 0,
                status: Status::Pending,
                last_error: None,
            },
            transcript: vec![TranscriptTurn {
                reply_id: "r".into(),
                session,
                at: 1_796_000_000_000,
                message: "Can I speak to someone? My email is [email]".into(),
                outcome: RecordedOutcome::HandedOff,
                confidence: 0.2,
                article_id: None,
                article_version: None,
                helpful: Some(false),
                complaint: false,
                care: None,
            }],
            complaint: None,
            availability: Some("We're closed now; we'll reply from 9:00 on Monday.".into()),
            zone: jiff::tz::TimeZone::get("Europe/London").unwrap(),
        }
    }

    fn mail() -> Mail {
        Mail::new(
            "smtp://127.0.0.1:2525",
            None,
            "Support chat <chat@lender.example>".parse().unwrap(),
            vec!["team@lender.example".parse().unwrap()],
            Duration::from_secs(5),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn the_message_replies_to_the_visitor_and_tells_auto_responders_to_stay_quiet() {
        let text = String::from_utf8(
            mail()
                .message(&parcel(Some("Jo \"Quoted\" Bloggs")))
                .unwrap()
                .formatted(),
        )
        .unwrap();
        assert!(
            text.contains("Reply-To: \"Jo \\\"Quoted\\\" Bloggs\" <jo@example.com>"),
            "{text}"
        );
        assert!(text.contains("Auto-Submitted: auto-generated"), "{text}");
        assert!(
            text.contains("Message-ID: <HO-ABCD-EFGH@lender.example>"),
            "{text}"
        );
        assert!(text.contains("To: team@lender.example"), "{text}");
        // The body may be quoted-printable (long lines): read it as written.
        let body = super::super::plain_text(&parcel(None));
        assert!(body.contains("Reference:  HO-ABCD-EFGH"), "{body}");
        assert!(
            body.contains("Visitor:    Can I speak to someone? My email is [email]"),
            "{body}"
        );
        assert!(body.contains("NOT helpful"), "{body}");
        assert!(body.contains("  Call after 2\n  please"), "{body}");
        assert!(body.contains("Hours now:  We're closed now"), "{body}");
    }

    #[tokio::test]
    async fn a_complaints_notice_goes_to_the_team_alone_with_its_due_date_and_the_words() {
        let parcel = parcel(None);
        let mut complaint = crate::domain::care::Complaint::new(
            parcel.handoff.session.clone(),
            "This is a disgrace.\nNobody rang back.".into(),
            1_796_000_000_000,
        );
        complaint.reference = "CO-ABCD-EFGH".into();
        let notice = Notice {
            complaint,
            transcript: parcel.transcript,
            zone: parcel.zone,
        };
        let text = String::from_utf8(mail().notice_message(&notice).unwrap().formatted()).unwrap();
        assert!(!text.contains("Reply-To"), "{text}");
        assert!(
            text.contains("Subject: Complaint CO-ABCD-EFGH: acknowledge by "),
            "{text}"
        );
        assert!(
            text.contains("Message-ID: <CO-ABCD-EFGH@lender.example>"),
            "{text}"
        );
        assert!(text.contains("Auto-Submitted: auto-generated"), "{text}");
        let body = super::super::notice_text(&notice);
        assert!(body.contains("Reference:  CO-ABCD-EFGH"), "{body}");
        assert!(
            body.contains("Their words:\n  This is a disgrace.\n  Nobody rang back.\n"),
            "{body}"
        );
        assert!(
            body.contains("Visitor:    Can I speak to someone?"),
            "{body}"
        );
    }

    /// A real SMTP listener: its first connection is never greeted, its
    /// second stalls at `MAIL` (mid-transaction), the rest take a message
    /// each; `got` counts the messages taken.
    async fn stalling_server(got: Arc<AtomicUsize>) -> std::net::SocketAddr {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for n in 0.. {
                let (stream, _) = listener.accept().await.unwrap();
                let got = got.clone();
                tokio::spawn(async move {
                    if n == 0 {
                        return std::future::pending::<()>().await; // holds it open
                    }
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                    let mut data = false;
                    while let Ok(Some(line)) = lines.next_line().await {
                        let reply: &[u8] = if data {
                            if line != "." {
                                continue;
                            }
                            data = false;
                            got.fetch_add(1, Ordering::SeqCst);
                            b"250 queued\r\n"
                        } else {
                            match line.get(..4).map(str::to_ascii_uppercase).as_deref() {
                                Some("EHLO") => b"250 sink\r\n",
                                Some("MAIL") if n == 1 => std::future::pending().await,
                                Some("DATA") => {
                                    data = true;
                                    b"354 go on\r\n"
                                }
                                Some("QUIT") => b"221 bye\r\n",
                                _ => b"250 ok\r\n",
                            }
                        };
                        if write.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_server_that_stalls_fails_the_attempt_within_the_timeout_and_the_next_goes_out() {
        let got = Arc::new(AtomicUsize::new(0));
        let addr = stalling_server(got.clone()).await;
        let mail = Mail::new(
            &format!("smtp://{addr}"),
            None,
            "chat@lender.example".parse().unwrap(),
            vec!["team@lender.example".parse().unwrap()],
            Duration::from_millis(500),
        )
        .unwrap();
        let attempt = || async {
            let started = std::time::Instant::now();
            let sent = tokio::time::timeout(Duration::from_secs(10), mail.deliver(&parcel(None)))
                .await
                .expect("the attempt ends by itself");
            assert!(started.elapsed() < Duration::from_secs(5));
            sent
        };
        let stalled = Err("SMTP: no answer within 0.5 s".to_owned());
        assert_eq!(attempt().await, stalled, "never greeted");
        assert_eq!(attempt().await, stalled, "stalled mid-transaction");
        // A fresh connection, not the stalled one handed back (a pool
        // would take it back on a task of its own: given time to).
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(attempt().await, Ok(()));
        assert_eq!(got.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn credentials_belong_in_the_environment_and_unknown_schemes_are_refused() {
        let from: Mailbox = "chat@lender.example".parse().unwrap();
        for bad in [
            "smtp://user:pw@host:25",
            "http://host",
            "smtp://host?tls=maybe",
            "not a url",
        ] {
            assert!(
                Mail::new(bad, None, from.clone(), vec![], Duration::from_secs(1)).is_err(),
                "{bad}"
            );
        }
        for good in [
            "smtp://127.0.0.1:2525",
            "smtp://mail.example?tls=required",
            "smtps://mail.example:465",
        ] {
            assert!(
                Mail::new(good, None, from.clone(), vec![], Duration::from_secs(1)).is_ok(),
                "{good}"
            );
        }
    }
}
