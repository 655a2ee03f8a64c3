//! Handoffs by webhook: `POST` of the handoff's JSON ([`super::json`]) to
//! `--handoff-webhook-url`, signed the way Stripe and GitHub sign theirs; a
//! new complaint's notice ([`super::notice_json`], `"type": "complaint"`)
//! goes the same way.
//!
//! `Support-Chat-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`, where the
//! HMAC is keyed with `SUPPORT_CHAT_HANDOFF_WEBHOOK_SECRET` and taken over
//! `<t>.<body>` (the timestamp, a dot, and the raw body bytes). A receiver
//! recomputes it over the bytes it got, compares in constant time, and
//! refuses a `t` more than five minutes from its clock (a replay). A
//! retried delivery carries the same `reference` (and `Idempotency-Key`):
//! receivers de-duplicate by it. Any `2xx` is delivered; anything else, or
//! no answer within the timeout, is tried again later.

use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::domain::Pending;
use crate::domain::care::Notice;
use crate::domain::handoff::{Courier, Parcel};

/// The signature's header.
pub const SIGNATURE_HEADER: &str = "Support-Chat-Signature";

/// The webhook side of handoffs.
pub struct Webhook {
    client: reqwest::Client,
    url: url::Url,
    secret: SecretString,
}

impl Webhook {
    pub fn new(
        url: url::Url,
        secret: SecretString,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            // A redirect would send the signed body somewhere not configured.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("support-chat/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            url,
            secret,
        })
    }
}

/// The header value signing `body` at `unix_secs` with `secret`.
pub fn signature(secret: &[u8], unix_secs: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(unix_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={unix_secs},v1={hex}")
}

impl Webhook {
    /// Posts `body` signed, with `reference` as its idempotency key.
    async fn post(&self, body: &serde_json::Value, reference: &str) -> Result<(), String> {
        let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let now = jiff::Timestamp::now().as_second();
        let response = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                SIGNATURE_HEADER,
                signature(self.secret.expose_secret().as_bytes(), now, &body),
            )
            .header("Idempotency-Key", reference)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("{}: {e}", self.url.host_str().unwrap_or("the webhook")))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the webhook answered {status}"))
        }
    }
}

impl Courier for Webhook {
    fn deliver<'a>(&'a self, parcel: &'a Parcel) -> Pending<'a, Result<(), String>> {
        Box::pin(async move {
            self.post(&super::json(parcel), &parcel.handoff.reference)
                .await
        })
    }

    fn notify<'a>(&'a self, notice: &'a Notice) -> Pending<'a, Result<(), String>> {
        Box::pin(async move {
            self.post(&super::notice_json(notice), &notice.complaint.reference)
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_timestamp_a_dot_and_the_body() {
        // Checked against `printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret`.
        assert_eq!(
            signature(b"secret", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
        );
    }
}
