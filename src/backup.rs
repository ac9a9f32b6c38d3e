//! Backups: every live record of a store, as stored (sealed), in a file of lines.
//!
//! The first line is a JSON [`Header`]; each further line is one record, postcard-encoded and
//! base64'd. Records travel sealed, exactly as `onetime migrate` moves them: a backup holds no
//! value, link, passphrase or email in the clear, and is readable only with the server key,
//! which it carries only when asked to (`onetime backup --with-key`).
//!
//! Built on the store's export and import (the transfer seam `migrate` uses).

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::store::{Exported, Store, StoreError};

/// The header's `format`.
pub const FORMAT: &str = "onetime-backup";

/// The header's `version`: how the lines are encoded.
pub const VERSION: u32 = 1;

/// A backup that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Not a backup, a newer format, or a damaged line.
    #[error("not a usable onetime backup: {0}")]
    Malformed(String),
}

/// The first line of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] when written.
    pub version: u32,
    /// The store's schema version the records are in.
    pub schema: u32,
    /// Unix seconds when the snapshot was taken.
    pub created: u64,
    /// How many record lines follow.
    pub records: u64,
    /// The server key (64 hex characters), only with `--with-key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_key: Option<String>,
}

/// One record as a backup line.
pub fn encode(record: &Exported) -> String {
    // Encoding plain data into a Vec cannot fail.
    let bytes = postcard::to_allocvec(record).unwrap_or_default();
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// A backup line as the record it holds.
pub fn decode(line: &str) -> Result<Exported, BackupError> {
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(line.trim())
        .map_err(|e| BackupError::Malformed(format!("a record line is not base64: {e}")))?;
    postcard::from_bytes(&bytes).or_else(|e| {
        // An account line from before single sign-on ends where the account's `sso` field
        // begins (the account is the line's last field): read it with that field absent.
        match postcard::from_bytes(&[bytes.as_slice(), &[0]].concat()) {
            Ok(Exported::Account(account)) if account.sso.is_none() => {
                Ok(Exported::Account(account))
            }
            _ => Err(BackupError::Malformed(format!(
                "a record line does not decode: {e}"
            ))),
        }
    })
}

/// Reads and checks a header line.
pub fn header(line: &str) -> Result<Header, BackupError> {
    let header: Header = serde_json::from_str(line)
        .map_err(|_| BackupError::Malformed("the first line is not a backup header".into()))?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(BackupError::Malformed(format!(
            "format {} version {}; this onetime reads {FORMAT} version {VERSION}",
            header.format, header.version
        )));
    }
    Ok(header)
}

/// Every live record of `store` at `now`, as backup lines. Each record is read in one atomic
/// step of the store, so everything acknowledged before the call is in it.
pub async fn snapshot(store: &dyn Store, now: u64) -> Result<Vec<String>, StoreError> {
    Ok(store.export(now).await?.iter().map(encode).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::account;
    use crate::store::SsoSide;

    #[test]
    fn account_lines_from_before_single_sign_on_still_restore() {
        let mut account = account("ann@example.com", 3);
        // Without an `sso` side the line is byte for byte what earlier versions wrote.
        let line = encode(&Exported::Account(account.clone()));
        assert_eq!(
            decode(&line).expect("old line"),
            Exported::Account(account.clone())
        );
        account.sso = account.api_key.clone().map(|key| SsoSide { since: 9, key });
        let line = encode(&Exported::Account(account.clone()));
        assert_eq!(decode(&line).expect("new line"), Exported::Account(account));
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(&line)
            .expect("base64");
        let cut =
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(&bytes[..bytes.len() - 1]);
        assert!(
            decode(&cut).is_err(),
            "a cut line is not read as the old shape"
        );
    }
}
