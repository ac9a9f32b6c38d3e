//! A refused form's message and the fields it is about, so the page can mark and focus them.
//!
//! Why focus and not `role="alert"`: a message that is already in the page when it loads is
//! skipped by most screen readers, alert or not. What gets it read is focus on the field in
//! error (`autofocus`, so it works without JavaScript) with the message tied to it by
//! `aria-describedby`; a message about no field takes the focus itself. The `<title>` starts
//! with "Error:" too, the first thing read after a page load.

/// The state of a form as the page renders it: fine, or refused with a message.
#[derive(Debug, Default)]
pub struct Refusal {
    message: Option<String>,
    /// The fields in error, by element id; the first one gets the focus. Empty: the message
    /// is about no field and gets the focus itself.
    fields: &'static [&'static str],
}

impl Refusal {
    /// A form with nothing to complain about.
    pub fn none() -> Self {
        Self::default()
    }

    /// Refused because of `fields` (element ids; the first is focused).
    pub fn on(fields: &'static [&'static str], message: impl Into<String>) -> Self {
        Self {
            message: Some(message.into()),
            fields,
        }
    }

    /// Refused for a reason no field can fix (a locked secret, a refusal worded by the API).
    pub fn general(message: impl Into<String>) -> Self {
        Self::on(&[], message)
    }

    /// Whether the form was refused (the title says "Error:").
    pub fn is_some(&self) -> bool {
        self.message.is_some()
    }

    /// The message, for `<p id="error">`.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Whether field `id` is in error: `aria-invalid` and `aria-describedby="error"`.
    pub fn invalid(&self, id: &str) -> bool {
        self.is_some() && self.fields.contains(&id)
    }

    /// Whether field `id` gets the page's `autofocus`.
    pub fn focused(&self, id: &str) -> bool {
        self.is_some() && self.fields.first() == Some(&id)
    }

    /// Whether the message itself gets the focus (`tabindex="-1" autofocus`).
    pub fn message_focused(&self) -> bool {
        self.is_some() && self.fields.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_field_in_error_is_focused_and_a_general_refusal_focuses_its_message() {
        let both = Refusal::on(&["email", "password"], "no match");
        assert!(both.invalid("email") && both.invalid("password"));
        assert!(both.focused("email") && !both.focused("password"));
        assert!(!both.message_focused());

        let general = Refusal::general("locked");
        assert!(general.message_focused() && !general.invalid("passphrase"));
        assert!(!general.focused("passphrase"));

        let fine = Refusal::none();
        assert!(!fine.is_some() && !fine.invalid("email") && !fine.message_focused());
    }
}
