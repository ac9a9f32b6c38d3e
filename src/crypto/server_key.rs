//! The server key: loaded from config or a private file, zeroed on drop, never printed.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::Zeroizing;

use super::SERVER_KEY_LEN;

/// The 32-byte server key. Zeroed on drop; never printed.
pub struct ServerKey(pub(super) Zeroizing<[u8; SERVER_KEY_LEN]>);

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey([redacted])")
    }
}

impl ServerKey {
    /// Parses 64 hex characters (config `server.secret`).
    pub fn from_hex(hex: &str) -> Option<Self> {
        let mut key = Zeroizing::new([0u8; SERVER_KEY_LEN]);
        hex::decode_to_slice(hex, key.as_mut_slice()).ok()?;
        Some(Self(key))
    }

    /// Reads `path`, or creates it with 32 fresh random bytes and mode 0600.
    ///
    /// `create_new` makes two racing first starts agree on one key instead of overwriting.
    pub fn load_or_create(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut key = Zeroizing::new([0u8; SERVER_KEY_LEN]);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(mut file) => {
                OsRng.fill_bytes(key.as_mut_slice());
                file.write_all(key.as_slice())?;
                file.sync_all()?;
                Ok(Self(key))
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let mut file = fs::File::open(path)?;
                let mut bytes = Zeroizing::new(Vec::new());
                file.read_to_end(&mut bytes)?;
                if bytes.len() != SERVER_KEY_LEN {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{} holds {} bytes, want {SERVER_KEY_LEN}",
                            path.display(),
                            bytes.len()
                        ),
                    ));
                }
                key.copy_from_slice(&bytes);
                Ok(Self(key))
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("server.key");
        let a = ServerKey::load_or_create(&path).expect("create");
        let mode = fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = ServerKey::load_or_create(&path).expect("load");
        assert_eq!(*a.0, *b.0);
    }
}
