//! Telling the team of each new complaint as it is made, by the ways
//! handoffs go, so the day it must be acknowledged by is not missed while
//! nobody looks at the console. The notice is stored with the complaint
//! (due at once) and sent by the handoff worker of whichever replica claims
//! it, retried with the handoffs' backoff until it is sent or has failed
//! [`Delivery::max_attempts`](super::Delivery) times. A complaint someone
//! acknowledged before its notice went is not told.

use std::time::Duration;

use crate::domain::care::{ComplaintStatus, Notice, NoticeOutcome, millis};
use crate::domain::channel::Channel;
use crate::domain::clock::now_millis;
use crate::domain::records::RecordError;

use super::Dispatch;

/// How long a notice waits for the records to hold the turn that made the
/// complaint (it is opened before that turn is queued, and may be written
/// by another replica), checked every [`TURN_POLL`] without counting an
/// attempt; after that it goes without it (a full queue dropped it).
const WAIT_FOR_TURN: Duration = Duration::from_secs(10);
const TURN_POLL: Duration = Duration::from_millis(500);

impl Dispatch {
    /// Claims and tries one due complaint notice; whether there was one.
    pub async fn notice_one(&self) -> Result<bool, RecordError> {
        let Some(mut claim) = self
            .complaints
            .claim_notice(&self.owner, now_millis(), self.delivery.lease)
            .await?
        else {
            return Ok(false);
        };
        let reference = claim.complaint.reference.clone();
        if claim.complaint.status != ComplaintStatus::Open {
            tracing::info!(%reference, "complaint acknowledged before its notice went; not sent");
            self.complaints
                .settle_notice(&self.owner, &claim, NoticeOutcome::Skipped, None)
                .await?;
            return Ok(true);
        }
        let transcript = self.records.transcript(&claim.complaint.session).await?;
        let now = now_millis();
        if !transcript.iter().any(|turn| turn.complaint)
            && now < claim.complaint.made + millis(WAIT_FOR_TURN)
        {
            let again = NoticeOutcome::Retry(now + millis(TURN_POLL));
            self.complaints
                .settle_notice(&self.owner, &claim, again, None)
                .await?;
            return Ok(false);
        }
        let notice = Notice {
            transcript,
            complaint: claim.complaint.clone(),
            zone: self.zone.clone(),
        };
        let mut errors = Vec::new();
        for (way, courier, name) in [
            (&mut claim.complaint.notice_email, &self.email, "email"),
            (
                &mut claim.complaint.notice_webhook,
                &self.webhook,
                "webhook",
            ),
        ] {
            if *way == Channel::Done {
                continue;
            }
            // A way another replica had not (`None`) is tried where it is.
            let Some(courier) = courier else {
                if *way == Channel::Pending && claim.attempts > 0 {
                    // Tried where it is configured, and failed: not sent
                    // until a replica that has it sends it.
                    errors.push(format!("{name}: not configured on this replica"));
                } else {
                    *way = Channel::None;
                }
                continue;
            };
            match courier.notify(&notice).await {
                Ok(()) => *way = Channel::Done,
                Err(error) => errors.push(format!("{name}: {error}")),
            }
        }
        claim.attempts += 1;
        let outcome = if errors.is_empty() {
            metrics::counter!("complaint_notices_sent_total").increment(1);
            tracing::info!(%reference, attempts = claim.attempts, "complaint notice sent");
            NoticeOutcome::Sent
        } else if claim.attempts >= self.delivery.max_attempts {
            metrics::counter!("complaint_notices_failed_total").increment(1);
            tracing::error!(%reference, attempts = claim.attempts, ?errors, "complaint notice failed: the complaint waits in the console");
            NoticeOutcome::Failed
        } else {
            metrics::counter!("complaint_notice_attempts_failed_total").increment(1);
            let wait = self.delivery.backoff(claim.attempts);
            tracing::warn!(%reference, attempts = claim.attempts, retry_in_s = wait.as_secs(), ?errors, "complaint notice not sent yet");
            NoticeOutcome::Retry(now_millis() + millis(wait))
        };
        let error = (!errors.is_empty()).then(|| errors.join("; "));
        self.complaints
            .settle_notice(&self.owner, &claim, outcome, error)
            .await?;
        Ok(true)
    }
}
