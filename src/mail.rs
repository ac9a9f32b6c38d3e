//! Emailing secret links: the lettre SMTP transport, the message, and the outbox worker that
//! sends queued mail with retries.
//!
//! A create never waits for SMTP: the mail is queued in the store with the secret, and this
//! worker sends it. Failures are retried with backoff until `mail.give_up_after`; the receipt
//! shows queued, sent or failed with the SMTP server's reason (addresses removed).

use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::response::{Category, Code, Response};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::config::MailSettings;
use crate::crypto::{Binding, RecordId, RecordKind, Sealed, Sealer};
use crate::domain::unix_now;
use crate::store::{self, Delivery, DeliveryState};

/// Mails sent per worker pass at the most.
const BATCH: usize = 50;

/// Why mail could not be set up or sent. Never holds a message body.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// `mail.smtp_url` or `mail.from` is unusable.
    #[error("{0}")]
    Config(String),
    /// The message could not be built (bad address).
    #[error("cannot build the message: {0}")]
    Message(String),
    /// The SMTP exchange failed.
    #[error("{reason}")]
    Send {
        /// The server's last word or the connection error, with a hint.
        reason: String,
        /// A 5xx answer: retrying will not help.
        permanent: bool,
    },
}

/// A message ready to send: what the outbox seals.
#[derive(Debug, Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct OutgoingMail {
    /// Recipient address.
    pub to: String,
    /// Reply-To: the sender's account email.
    pub reply_to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text part.
    pub text: String,
    /// HTML part.
    pub html: String,
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The mail telling `to` that `sender` shared a secret at `link`. Never the secret, never the
/// passphrase: only that one is needed.
pub fn compose(sender: &str, to: &str, link: &str, passphrase_required: bool) -> OutgoingMail {
    let subject = format!("{sender} sent you a secret");
    let mut text = format!(
        "{sender} sent you a secret.\n\n\
         Open it here:\n{link}\n\n\
         The link works once: after you open it, the secret is deleted. If it says the secret \
         is unknown, someone opened it before you; tell {sender}.\n"
    );
    let mut notice = String::new();
    if passphrase_required {
        text.push_str(&format!(
            "\nA passphrase is required to open it; ask {sender} for it (not by email).\n"
        ));
        notice = format!(
            "<p><strong>A passphrase is required to open it;</strong> ask {} for it \
             (not by email).</p>",
            escape_html(sender)
        );
    }
    let (sender_html, link_html) = (escape_html(sender), escape_html(link));
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">\
         <p>{sender_html} sent you a secret.</p>\
         <p><a href=\"{link_html}\">Open the secret</a></p>\
         <p style=\"word-break:break-all\">{link_html}</p>\
         <p>The link works once: after you open it, the secret is deleted. If it says the \
         secret is unknown, someone opened it before you; tell {sender_html}.</p>\
         {notice}</body></html>"
    );
    OutgoingMail {
        to: to.to_owned(),
        reply_to: sender.to_owned(),
        subject,
        text,
        html,
    }
}

/// The mail of a secret a visitor sent through the incoming page (`/incoming`): who sent it is
/// not known, so it says so, and it carries the visitor's memo so the recipient can tell what
/// it is about.
pub fn compose_incoming(to: &str, link: &str, memo: &str) -> OutgoingMail {
    let mut mail = compose("Someone using the request-a-secret page", to, link, false);
    if !memo.is_empty() {
        mail.append(&format!("Their note: {memo}"));
    }
    mail
}

/// The mail of an end-to-end secret (`docs/envelope.md`): the server never had its key, so the
/// link has none, and the mail says the key comes from the sender another way.
pub fn compose_key_apart(
    sender: &str,
    to: &str,
    link: &str,
    passphrase_required: bool,
) -> OutgoingMail {
    let mut mail = compose(sender, to, link, passphrase_required);
    mail.append(&format!(
        "The secret was encrypted end to end and this link carries no key: {sender} gives you \
         the key another way (not by this email). Add it to the end of the link after a \"#\" \
         to open the secret."
    ));
    mail
}

impl OutgoingMail {
    /// Adds `paragraph` at the end of the text and the HTML part.
    fn append(&mut self, paragraph: &str) {
        self.text.push_str(&format!("\n{paragraph}\n"));
        self.html = self.html.replace(
            "</body>",
            &format!("<p>{}</p></body>", escape_html(paragraph)),
        );
    }
}

/// `reason` with anything that looks like an email address replaced, so SMTP errors can be
/// shown on receipts and in logs.
pub fn without_addresses(reason: &str) -> String {
    reason
        .split_whitespace()
        .map(|word| {
            if word.contains('@') {
                "[address]"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Turns a transport error into something a sysadmin can act on.
fn explain(e: &lettre::transport::smtp::Error) -> MailError {
    let text = without_addresses(&e.to_string());
    let hint = if e.is_permanent() {
        if e.status().is_some_and(is_authentication) {
            " (check the user and password in mail.smtp_url)"
        } else {
            ""
        }
    } else if e.is_timeout() {
        " (the SMTP server did not answer in time)"
    } else if e.is_tls() {
        " (TLS failed: check smtps:// or ?tls=required against what the server offers)"
    } else if could_not_connect(e) {
        " (could not connect: is the SMTP server up, and are the host and port right?)"
    } else {
        ""
    };
    MailError::Send {
        reason: format!("{text}{hint}"),
        permanent: e.is_permanent(),
    }
}

/// Whether a 5xx reply refused the credentials: RFC 4954 gives authentication the x3x replies
/// (530 required, 534 too weak, 535 rejected, 538 needs encryption).
fn is_authentication(code: Code) -> bool {
    code.category == Category::Unspecified3
}

/// Whether the server could not be reached, or would not take a session (a transient x2x reply
/// such as 421). lettre exposes no `is_connection()`: what is left once the reply, client, TLS,
/// timeout and shutdown kinds are ruled out is a connection error (connecting failed) or a
/// network one (I/O on an open session failed). A failed session shows as its connection ending
/// mid-conversation; anything else under it (refused, reset, unroutable, a name that did not
/// resolve, or no I/O error at all) is a failed connect.
fn could_not_connect(e: &lettre::transport::smtp::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, InvalidData, UnexpectedEof, WriteZero};
    if e.is_transient() {
        // 421 and the other x2x replies: the server is there but will not take a session.
        return e
            .status()
            .is_some_and(|code| code.category == Category::Connections);
    }
    if e.is_response() || e.is_client() || e.is_transport_shutdown() {
        return false;
    }
    let mut next = std::error::Error::source(e);
    while let Some(error) = next {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            return !matches!(
                io.kind(),
                UnexpectedEof | BrokenPipe | WriteZero | InvalidData
            );
        }
        next = error.source();
    }
    true
}

/// The SMTP transport from `mail.smtp_url` and the sender from `mail.from`.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// `None` when `mail.smtp_url` is unset (mail is off).
    pub fn from_settings(mail: &MailSettings) -> Result<Option<Self>, MailError> {
        let Some(url) = &mail.smtp_url else {
            return Ok(None);
        };
        let from: Mailbox = mail
            .from
            .parse()
            .map_err(|e| MailError::Config(format!("mail.from is not an address: {e}")))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url.0)
            .map_err(|e| {
                MailError::Config(format!(
                    "mail.smtp_url is not usable ({}); want smtp://host:port, \
                     smtp://host:587?tls=required or smtps://user:pass@host:465",
                    without_addresses(&e.to_string())
                ))
            })?
            .timeout(Some(Duration::from_secs(mail.timeout)))
            .build();
        Ok(Some(Self { transport, from }))
    }

    /// Sends one message; the server's answer on success.
    pub async fn send(&self, mail: &OutgoingMail) -> Result<Response, MailError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|_| MailError::Message("the recipient is not an address".into()))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone());
        if let Ok(reply_to) = mail.reply_to.parse::<Mailbox>() {
            builder = builder.reply_to(reply_to);
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .map_err(|e| MailError::Message(e.to_string()))?;
        self.transport.send(message).await.map_err(|e| explain(&e))
    }
}

/// How the outbox worker retries.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Delay before the first retry; doubles each time, up to an hour.
    pub initial: u64,
    /// Stop retrying this many seconds after the mail was queued.
    pub give_up_after: u64,
    /// Seconds between outbox scans when nothing wakes the worker.
    pub poll: u64,
}

impl RetryPolicy {
    /// From `[mail]`.
    pub fn from_settings(mail: &MailSettings) -> Self {
        Self {
            initial: mail.retry_initial,
            give_up_after: mail.give_up_after,
            poll: mail.retry_initial.clamp(1, 30),
        }
    }

    fn delay(self, attempts: u32) -> u64 {
        self.initial
            .saturating_mul(1u64 << attempts.min(20))
            .min(3600)
    }
}

/// Opens a mail sealed for the outbox (under the server key alone, bound to its receipt's id).
fn open(sealer: &Sealer, id: &RecordId, sealed: &Sealed) -> Option<OutgoingMail> {
    sealer
        .open_value(Binding::new(RecordKind::Mail, id, ""), sealed)
        .ok()
}

/// The outbox worker: sends due mail whenever woken through `wake`, and every `poll` seconds.
pub struct Outbox {
    /// The store holding the outbox.
    pub store: Arc<dyn store::Outbox>,
    /// Opens sealed mail.
    pub sealer: Arc<Sealer>,
    /// The transport.
    pub mailer: Mailer,
    /// Retry timing.
    pub retry: RetryPolicy,
    /// Woken by creates that queue mail.
    pub wake: Arc<Notify>,
}

impl Outbox {
    /// Runs until aborted.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                if let Err(e) = self.pass().await {
                    tracing::warn!(error = %e, "outbox pass failed; will retry");
                }
                let _ = tokio::time::timeout(
                    Duration::from_secs(self.retry.poll),
                    self.wake.notified(),
                )
                .await;
            }
        })
    }

    /// Sends every due mail once.
    async fn pass(&self) -> Result<(), crate::store::StoreError> {
        let now = unix_now();
        for mut mail in self.store.due_mail(now, BATCH).await? {
            let id = mail.receipt_id;
            let outcome = match open(&self.sealer, &id, &mail.sealed) {
                Some(message) => self.mailer.send(&message).await,
                None => Err(MailError::Message(
                    "queued mail cannot be opened with this server key".into(),
                )),
            };
            let now = unix_now();
            match outcome {
                Ok(_) => {
                    tracing::info!(attempts = mail.attempts + 1, "mail delivered");
                    let sent = Delivery {
                        state: DeliveryState::Sent,
                        reason: None,
                        updated: now,
                    };
                    self.store.finish_mail(&id, sent).await?;
                    crate::metrics::mail_sent();
                }
                Err(e) => {
                    let (reason, permanent) = match e {
                        MailError::Send { reason, permanent } => (reason, permanent),
                        other => (other.to_string(), true),
                    };
                    mail.attempts += 1;
                    let give_up =
                        permanent || now.saturating_sub(mail.created) >= self.retry.give_up_after;
                    tracing::warn!(
                        attempts = mail.attempts,
                        giving_up = give_up,
                        reason = %reason,
                        "mail not delivered"
                    );
                    let state = if give_up {
                        DeliveryState::Failed
                    } else {
                        DeliveryState::Queued
                    };
                    let delivery = Delivery {
                        state,
                        reason: Some(reason),
                        updated: now,
                    };
                    if give_up {
                        self.store.finish_mail(&id, delivery).await?;
                        crate::metrics::mail_failed();
                    } else {
                        mail.next_attempt = now + self.retry.delay(mail.attempts - 1);
                        self.store.retry_mail(&mail, delivery).await?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mail_holds_the_link_and_never_more() {
        let mail = compose(
            "alice@example.com",
            "bob@example.org",
            "https://s.example/secret/abc",
            true,
        );
        assert_eq!(mail.subject, "alice@example.com sent you a secret");
        for part in [&mail.text, &mail.html] {
            assert!(part.contains("https://s.example/secret/abc"));
            assert!(part.contains("passphrase"));
        }
        let plain = compose("a@b.c", "d@e.f", "http://x/secret/k", false);
        assert!(!plain.text.contains("passphrase"));
    }

    #[test]
    fn html_is_escaped() {
        let mail = compose("<b>@x.y", "d@e.f", "http://x/secret/k?a=1&b=2", false);
        assert!(mail.html.contains("&lt;b&gt;@x.y"));
        assert!(mail.html.contains("a=1&amp;b=2"));
    }

    #[test]
    fn addresses_are_removed_from_reasons() {
        assert_eq!(
            without_addresses("550 5.1.1 <bob@example.org>: Recipient rejected"),
            "550 5.1.1 [address] Recipient rejected"
        );
    }

    #[test]
    fn an_end_to_end_link_says_its_key_comes_another_way() {
        let mail = compose_key_apart("a@b.c", "d@e.f", "http://x/secret/k", false);
        for part in [&mail.text, &mail.html] {
            assert!(part.contains("carries no key"), "{part}");
            assert!(
                part.contains("a@b.c gives you the key another way"),
                "{part}"
            );
        }
        assert!(mail.html.ends_with("</p></body></html>"));
    }

    #[test]
    fn retries_back_off_up_to_an_hour() {
        let p = RetryPolicy {
            initial: 30,
            give_up_after: 86_400,
            poll: 30,
        };
        assert_eq!(p.delay(0), 30);
        assert_eq!(p.delay(1), 60);
        assert_eq!(p.delay(3), 240);
        assert_eq!(p.delay(30), 3600);
    }
}
