//! Telling the team of each new complaint as it is made, by the ways
//! handoffs go, so the day it must be acknowledged by is not missed while
//! nobody looks at the console. The notice is stored with the complaint
//! (due at once) and sent by the handoff worker of whichever replica claims
//! it, retried with the handoffs' backoff until it is sent or has failed
//! [`Delivery::max_attempts`](super::Delivery) times. A complaint someone
//! acknowledged before its notice went is not told.

use crate::domain::care::{Notice, NoticeStatus};
use crate::domain::clock::now_millis;
use crate::domain::records::RecordError;

use super::Dispatch;

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
        let notice = Notice {
            transcript: self.records.transcript(&claim.complaint.session).await?,
            complaint: claim.complaint.clone(),
            zone: self.zone.clone(),
        };
        let mut errors = Vec::new();
        for (pending, courier, name) in [
            (&mut claim.email_pending, &self.email, "email"),
            (&mut claim.webhook_pending, &self.webhook, "webhook"),
        ] {
            let Some(courier) = courier.as_ref().filter(|_| *pending) else {
                // Sent before, or not a way configured here: nothing to do.
                *pending = false;
                continue;
            };
            match courier.notify(&notice).await {
                Ok(()) => *pending = false,
                Err(error) => errors.push(format!("{name}: {error}")),
            }
        }
        claim.attempts += 1;
        let reference = &claim.complaint.reference;
        let status = if errors.is_empty() {
            metrics::counter!("complaint_notices_sent_total").increment(1);
            tracing::info!(%reference, attempts = claim.attempts, "complaint notice sent");
            NoticeStatus::Sent
        } else if claim.attempts >= self.delivery.max_attempts {
            metrics::counter!("complaint_notices_failed_total").increment(1);
            tracing::error!(%reference, attempts = claim.attempts, ?errors, "complaint notice failed: the complaint waits in the console");
            NoticeStatus::Failed
        } else {
            metrics::counter!("complaint_notice_attempts_failed_total").increment(1);
            let wait = self.delivery.backoff(claim.attempts);
            tracing::warn!(%reference, attempts = claim.attempts, retry_in_s = wait.as_secs(), ?errors, "complaint notice not sent yet");
            NoticeStatus::Retry(now_millis() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX))
        };
        let error = (!errors.is_empty()).then(|| errors.join("; "));
        self.complaints
            .settle_notice(&self.owner, &claim, status, error)
            .await?;
        Ok(true)
    }
}
