//! The rules a create is checked against, taken from settings once at start: plans, lifetimes,
//! sizes, passphrases, recipients and share domains. Pure: no store, no clock.

use std::collections::BTreeMap;

use super::create::{CreateRequest, E2eShare};
use super::error::{Result, ServiceError};
use super::nonempty;
use crate::config::{Plan, Settings};
use crate::crypto::envelope::{Envelope, FRAMING_MAX};
use crate::domain::{
    Caller, EmailAddress, RequestedTtl, Sensitive, MEMO_MAX_CHARS, PASSPHRASE_MAX_CHARS,
};
use crate::store::GuessRules;

/// The limits a create form offers a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateRules {
    /// Shortest lifetime, seconds.
    pub min_ttl: u64,
    /// Lifetime when none is chosen, seconds (capped by the plan).
    pub default_ttl: u64,
    /// Longest lifetime the caller's plan allows, seconds.
    pub max_ttl: u64,
    /// Largest secret, bytes.
    pub max_size: usize,
    /// Largest file in an end-to-end secret, bytes (0: none).
    pub max_file_size: usize,
    /// Length of a generated password.
    pub generate_length: usize,
    /// Shortest passphrase.
    pub passphrase_min: usize,
    /// Whether links can be emailed.
    pub mail_enabled: bool,
}

/// The rules of every use case, from settings.
#[derive(Debug, Clone)]
pub(super) struct Policy {
    pub(super) base_url: String,
    share_domains: Vec<String>,
    allow_anonymous: bool,
    default_ttl: u64,
    min_ttl: u64,
    passphrase_min: usize,
    pub(super) generate_length: usize,
    plans: BTreeMap<String, Plan>,
    /// scrypt cost (log_n, r, p) for new passphrases.
    pub(super) scrypt: (u8, u32, u32),
    /// How many wrong passphrases lock a secret, and for how long.
    pub(super) guesses: GuessRules,
    mail_enabled: bool,
}

impl Policy {
    /// The rules `settings` give.
    pub(super) fn from_settings(settings: &Settings) -> Self {
        let c = &settings.crypto;
        let l = &settings.limits;
        Self {
            // `Application::build` fills it in from the bound address when it is unset.
            base_url: settings.link_base("").to_owned(),
            share_domains: settings.server.share_domains.clone(),
            allow_anonymous: settings.secrets.allow_anonymous,
            default_ttl: settings.secrets.default_ttl,
            min_ttl: settings.secrets.min_ttl,
            passphrase_min: settings.secrets.passphrase_min_length,
            generate_length: settings.secrets.generate_length,
            plans: settings.plans.clone(),
            scrypt: (c.scrypt_log_n, c.scrypt_r, c.scrypt_p),
            guesses: GuessRules {
                per_ip: l.passphrase_failures_per_ip,
                total: l.passphrase_failures_total,
                window: l.passphrase_window,
                lockout: l.passphrase_lockout,
            },
            mail_enabled: settings.mail.smtp_url.is_some(),
        }
    }

    /// The caller's plan: its own, else `default`, else nothing at all may be shared.
    pub(super) fn plan(&self, caller: &Caller) -> Plan {
        self.plans
            .get(caller.plan_name())
            .or_else(|| self.plans.get("default"))
            .copied()
            .unwrap_or(Plan {
                max_ttl: self.default_ttl,
                max_size: 0,
                max_file_size: 0,
            })
    }

    /// What a create by `caller` may ask for.
    pub(super) fn rules(&self, caller: &Caller) -> CreateRules {
        let plan = self.plan(caller);
        CreateRules {
            min_ttl: self.min_ttl,
            default_ttl: self.default_ttl.min(plan.max_ttl),
            max_ttl: plan.max_ttl,
            max_size: plan.max_size,
            max_file_size: plan.max_file_size,
            generate_length: self.generate_length,
            passphrase_min: self.passphrase_min,
            mail_enabled: self.mail_enabled,
        }
    }

    /// The lifetime a create under `plan` gets: silently clamped, never refused.
    pub(super) fn ttl(&self, asked: Option<RequestedTtl>, plan: Plan) -> u64 {
        RequestedTtl::resolve(asked, self.default_ttl, self.min_ttl, plan.max_ttl)
    }

    /// The value a share stores and the recipient to mail, after the checks in the API's
    /// order: size, then those of every create ([`Self::check_create`]), then that there is
    /// something to share.
    pub(super) fn check_share(
        &self,
        caller: &Caller,
        req: &CreateRequest,
        plan: Plan,
    ) -> Result<(Sensitive, Option<EmailAddress>)> {
        if let Some(secret) = &req.secret {
            match &req.e2e {
                None if secret.expose().len() > plan.max_size => {
                    return Err(ServiceError::TooLarge { max: plan.max_size });
                }
                None => {}
                Some(e2e) => check_envelope(secret, e2e, plan)?,
            }
        }
        let recipient = self.check_create(caller, req)?;
        let value = nonempty(req.secret.as_ref())
            .cloned()
            .ok_or(ServiceError::NothingToShare)?;
        Ok((value, recipient))
    }

    /// Whether `caller` may create: an account always, anonymous callers only with
    /// `secrets.allow_anonymous`.
    pub(super) fn may_create(&self, caller: &Caller) -> bool {
        self.allow_anonymous || *caller != Caller::Anonymous
    }

    /// Checks shared by share and generate, in the API's order: who may create, recipient,
    /// passphrase, memo. Gives the recipient to mail: the first one named (only it is mailed).
    pub(super) fn check_create(
        &self,
        caller: &Caller,
        req: &CreateRequest,
    ) -> Result<Option<EmailAddress>> {
        if !self.may_create(caller) {
            return Err(ServiceError::NotAuthorized);
        }
        let mut recipient = None;
        if let Some(first) = req.recipients.iter().find(|r| !r.trim().is_empty()) {
            if *caller == Caller::Anonymous {
                return Err(ServiceError::AccountRequiredForEmail);
            }
            let Some(address) = EmailAddress::parse(first) else {
                return Err(ServiceError::Undeliverable {
                    address: first.clone(),
                });
            };
            if !self.mail_enabled {
                return Err(ServiceError::MailOff);
            }
            recipient = Some(address);
        }
        if let Some(pass) = nonempty(req.passphrase.as_ref()) {
            let chars = pass.expose().chars().count();
            if chars < self.passphrase_min {
                return Err(ServiceError::PassphraseTooShort {
                    min: self.passphrase_min,
                });
            }
            if chars > PASSPHRASE_MAX_CHARS {
                return Err(ServiceError::PassphraseTooLong {
                    max: PASSPHRASE_MAX_CHARS,
                });
            }
        }
        if let Some(memo) = nonempty(req.memo.as_ref()) {
            if memo.expose().chars().count() > MEMO_MAX_CHARS {
                return Err(ServiceError::MemoTooLong {
                    max: MEMO_MAX_CHARS,
                });
            }
        }
        Ok(recipient)
    }

    /// The share domain a create names, as kept: one of `server.share_domains`, or `""` for
    /// anything else (the host of `base_url`, or a domain this server does not serve), whose
    /// links then use `base_url`, as Onetime Secret does. A link never points at a host the
    /// operator did not name.
    pub(super) fn share_domain(&self, asked: Option<&str>) -> String {
        let wanted = asked.unwrap_or_default().trim().to_ascii_lowercase();
        if self.share_domains.contains(&wanted) {
            wanted
        } else {
            String::new()
        }
    }

    /// Where links for `share_domain` point: the operator's base URL, or the named domain.
    pub(super) fn link_base(&self, share_domain: &str) -> String {
        if share_domain.is_empty() {
            self.base_url.clone()
        } else {
            format!("https://{share_domain}")
        }
    }
}

/// An end-to-end value: an envelope whose plaintext fits the plan (the text size, or the file
/// size for a file, plus the framing), with a well-formed key verifier if one came. The server
/// sees only sizes: a text of `max_size` bytes always fits, whatever the encryption adds.
fn check_envelope(secret: &Sensitive, e2e: &E2eShare, plan: Plan) -> Result<()> {
    let Ok(envelope) = Envelope::parse(secret.expose()) else {
        return Err(ServiceError::BadEnvelope);
    };
    let max = if e2e.file {
        plan.max_file_size
    } else {
        plan.max_size
    };
    if envelope.plain_len() > max.saturating_add(FRAMING_MAX) {
        return Err(ServiceError::TooLarge { max });
    }
    let plausible =
        |v: &str| v.len() == 64 && v.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if e2e.verifier.as_deref().is_some_and(|v| !plausible(v)) {
        return Err(ServiceError::BadEnvelope);
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::domain::RecentAccess;

    /// The documented defaults (`onetime.toml`) with `env` on top.
    fn policy(env: &[(&str, &str)]) -> Policy {
        Policy::from_settings(&crate::config::load_env(env).expect("settings"))
    }

    fn account(plan: &str) -> Caller {
        Caller::Account {
            email: "ann@example.com".into(),
            plan: plan.into(),
            recent: RecentAccess::default(),
        }
    }

    fn share(secret: &str) -> CreateRequest {
        CreateRequest {
            secret: Some(Sensitive::new(secret.into())),
            ..CreateRequest::default()
        }
    }

    #[test]
    fn lifetimes_default_to_seven_days_and_are_clamped_into_the_plan() {
        let p = policy(&[]);
        let anonymous = p.plan(&Caller::Anonymous);
        let account = p.plan(&account("default"));
        assert_eq!(p.ttl(None, anonymous), 604_800);
        assert_eq!(
            p.ttl(RequestedTtl::parse("5"), anonymous),
            60,
            "below min_ttl"
        );
        assert_eq!(
            p.ttl(RequestedTtl::parse("abc"), anonymous),
            60,
            "garbage is 0"
        );
        assert_eq!(p.ttl(RequestedTtl::parse("3600"), anonymous), 3600);
        assert_eq!(
            p.ttl(RequestedTtl::parse("99999999"), anonymous),
            anonymous.max_ttl
        );
        assert_eq!(
            p.ttl(RequestedTtl::parse("99999999"), account),
            account.max_ttl
        );
        assert!(
            account.max_ttl > anonymous.max_ttl,
            "accounts keep secrets longer"
        );
    }

    #[test]
    fn callers_get_their_plan_else_the_default_plan() {
        let p = policy(&[]);
        assert_eq!(
            p.plan(&account("no-such-plan")),
            p.plan(&account("default"))
        );
        let rules = p.rules(&Caller::Anonymous);
        assert_eq!(rules.max_ttl, p.plan(&Caller::Anonymous).max_ttl);
        assert!(rules.default_ttl <= rules.max_ttl);
        assert!(!rules.mail_enabled, "mail is off by default");
    }

    #[test]
    fn a_share_over_the_plan_size_is_refused_with_the_limit() {
        let p = policy(&[]);
        let plan = p.plan(&Caller::Anonymous);
        let fits = "x".repeat(plan.max_size);
        let over = "x".repeat(plan.max_size + 1);
        assert!(p
            .check_share(&Caller::Anonymous, &share(&fits), plan)
            .is_ok());
        assert!(matches!(
            p.check_share(&Caller::Anonymous, &share(&over), plan),
            Err(ServiceError::TooLarge { max }) if max == plan.max_size
        ));
    }

    #[test]
    fn an_empty_share_has_nothing_to_share_but_generate_needs_no_value() {
        let p = policy(&[]);
        let plan = p.plan(&Caller::Anonymous);
        for req in [share(""), CreateRequest::default()] {
            assert!(matches!(
                p.check_share(&Caller::Anonymous, &req, plan),
                Err(ServiceError::NothingToShare)
            ));
            assert!(p.check_create(&Caller::Anonymous, &req).is_ok());
        }
    }

    #[test]
    fn anonymous_callers_may_share_unless_the_server_says_no_and_never_email() {
        let open = policy(&[]);
        assert!(open.check_create(&Caller::Anonymous, &share("s")).is_ok());
        let closed = policy(&[("secrets.allow_anonymous", "false")]);
        assert!(matches!(
            closed.check_create(&Caller::Anonymous, &share("s")),
            Err(ServiceError::NotAuthorized)
        ));
        assert!(closed
            .check_create(&account("default"), &share("s"))
            .is_ok());

        let mut mailed = share("s");
        mailed.recipients = vec!["bob@example.com".into()];
        assert!(matches!(
            open.check_create(&Caller::Anonymous, &mailed),
            Err(ServiceError::AccountRequiredForEmail)
        ));
        // An account may name a recipient, but this server sends no mail.
        assert!(matches!(
            open.check_create(&account("default"), &mailed),
            Err(ServiceError::MailOff)
        ));
        mailed.recipients = vec!["not an address".into()];
        assert!(matches!(
            open.check_create(&account("default"), &mailed),
            Err(ServiceError::Undeliverable { address }) if address == "not an address"
        ));
    }

    #[test]
    fn passphrases_must_fit_between_the_minimum_and_the_api_maximum() {
        let p = policy(&[("secrets.passphrase_min_length", "6")]);
        let with = |pass: &str| CreateRequest {
            passphrase: Some(Sensitive::new(pass.into())),
            ..share("s")
        };
        assert!(
            p.check_create(&Caller::Anonymous, &with("")).is_ok(),
            "empty is none"
        );
        assert!(matches!(
            p.check_create(&Caller::Anonymous, &with("five5")),
            Err(ServiceError::PassphraseTooShort { min: 6 })
        ));
        assert!(p.check_create(&Caller::Anonymous, &with("sixsix")).is_ok());
        // Characters, not bytes.
        let longest = "é".repeat(PASSPHRASE_MAX_CHARS);
        assert!(p.check_create(&Caller::Anonymous, &with(&longest)).is_ok());
        assert!(matches!(
            p.check_create(&Caller::Anonymous, &with(&format!("{longest}é"))),
            Err(ServiceError::PassphraseTooLong {
                max: PASSPHRASE_MAX_CHARS
            })
        ));
    }

    #[test]
    fn memos_are_bounded_in_characters() {
        let p = policy(&[]);
        let with = |memo: String| CreateRequest {
            memo: Some(Sensitive::new(memo)),
            ..share("s")
        };
        assert!(p
            .check_create(&Caller::Anonymous, &with("ü".repeat(MEMO_MAX_CHARS)))
            .is_ok());
        assert!(matches!(
            p.check_create(&Caller::Anonymous, &with("ü".repeat(MEMO_MAX_CHARS + 1))),
            Err(ServiceError::MemoTooLong {
                max: MEMO_MAX_CHARS
            })
        ));
    }

    #[test]
    fn links_use_only_share_domains_the_operator_named() {
        let p = policy(&[("server.share_domains", "s.example.com")]);
        assert_eq!(p.share_domain(Some(" S.Example.com ")), "s.example.com");
        assert_eq!(p.share_domain(Some("evil.example")), "");
        assert_eq!(p.link_base("s.example.com"), "https://s.example.com");
        assert_eq!(p.link_base(""), p.base_url);
    }
}
