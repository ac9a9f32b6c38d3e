//! `onetime man`: the manual page (roff) on standard output, or one page per command in a
//! directory.

use std::path::Path;

/// Writes `onetime.1` to standard output, or, with `dir`, `onetime.1` and a page for every
/// subcommand (`onetime-account-add.1`, ...) into `dir`.
pub fn run(command: clap::Command, dir: Option<&Path>) -> anyhow::Result<()> {
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            clap_mangen::generate_to(command, dir)?;
            eprintln!("manual pages written to {}", dir.display());
        }
        None => clap_mangen::Man::new(command).render(&mut std::io::stdout())?,
    }
    Ok(())
}
