//! `onetime completions SHELL`: a completion script for bash, zsh or fish on standard output.

use clap_complete::Shell;

/// Writes the completion script for `shell` to standard output.
pub fn run(shell: Shell, mut command: clap::Command) {
    let name = command.get_name().to_owned();
    clap_complete::generate(shell, &mut command, name, &mut std::io::stdout());
}
